using AvBert.Bench;

// Benchmarks, one area per file, chosen by the first argument: dotnet run -c Release --project bench/AvBert.Bench -- <area> [args]
var area = args.FirstOrDefault() ?? "";
var rest = args.Skip(1).ToArray();
return area switch
{
    "model" => ModelBench.Run(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: AvBert.Bench <area> [args]; areas: model");
    return 2;
}
