using AvBert.Config;
using AvBert.Pretraining;
using AvBert.Runtime;

namespace AvBert.Bench;

/// <summary>
/// The training step (<see cref="StepBenchmark"/>) over a grid of batch sizes and precisions, one line each:
/// <c>dotnet run -c Release --project bench/AvBert.Bench -- step [--device cuda] [--preset full] [--batches 4,8,16]
/// [--precisions bf16,tf32,fp32] [--steps 10] [--step model|pretrain]</c>. The same measurement as <c>avbert bench step</c>.
/// </summary>
public static class StepBench
{
    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var device = TorchRuntime.ResolveDevice(Arg("--device", "auto"));
        var cfg = ConfigLoader.Load(Arg("--preset", "full"));
        var step = Arg("--step", "model") == "pretrain" ? BenchedStep.Pretraining : BenchedStep.Model;
        int steps = int.Parse(Arg("--steps", "10"));
        var precisions = Arg("--precisions", "bf16,tf32,fp32").Split(',').Select(p => Enum.Parse<Precision>(p, ignoreCase: true));
        var batches = Arg("--batches", "4,8,16").Split(',').Select(int.Parse);
        foreach (var result in StepBenchmark.Sweep(cfg, device, [step], batches, precisions, steps, [1]))
            Console.WriteLine(result.Summary);
        return 0;
    }
}
