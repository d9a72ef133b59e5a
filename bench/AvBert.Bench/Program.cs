// Benchmarks, one file per area; the first argument picks one: dotnet run -c Release --project bench/AvBert.Bench -- <name> [options]
return args.FirstOrDefault() switch
{
    "decode" => AvBert.Bench.DecodeBench.Run(args[1..]),
    "loader" => AvBert.Bench.LoaderBench.Run(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: AvBert.Bench <decode|loader> [options]");
    return 2;
}
