using AvBert.Bench;
using AvBert.Runtime;

// Benchmarks, one file per area, dispatched by the first argument: dotnet run -c Release --project bench/AvBert.Bench -- <area> [options]
TorchRuntime.Initialize();
switch (args.FirstOrDefault())
{
    case "pretrain": return PretrainBench.Run(args[1..]);
    default:
        Console.WriteLine("usage: dotnet run -c Release --project bench/AvBert.Bench -- <area> [options]; areas: pretrain");
        return args.Length == 0 ? 0 : 1;
}
