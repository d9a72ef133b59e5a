using AvBert.Bench;
using AvBert.Runtime;

// Developer benchmarks that `avbert bench` does not offer, one file per area, dispatched by the first argument:
//   dotnet run -c Release --project bench/AvBert.Bench -- <area> [options]
TorchRuntime.Initialize();
return args.FirstOrDefault() switch
{
    "model" => ModelBench.Run(args[1..]),
    "decode" => DecodeBench.Run(args[1..]),
    "loader" => LoaderBench.Run(args[1..]),
    "pretrain" => PretrainBench.Run(args[1..]),
    "downstream" => DownstreamBench.Run(args[1..]),
    "conv" => ConvBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/AvBert.Bench -- <area> [options]; areas: model, decode, loader, pretrain, downstream, conv");
    return 2;
}
