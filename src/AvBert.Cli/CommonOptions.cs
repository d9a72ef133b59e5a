using AvBert.Config;
using AvBert.Runtime;
using AvBert.Runs;
using System.CommandLine;
using static TorchSharp.torch;

namespace AvBert.Cli;

/// <summary>--preset / --config / --set, shared by every command that builds a model.</summary>
public sealed class ConfigOptions
{
    public readonly Option<string> Preset = new("--preset") { Description = $"Named preset: {string.Join(", ", ConfigLoader.Presets)} (default full: the paper's sizes)", DefaultValueFactory = _ => "full" };
    public readonly Option<string?> File = new("--config") { Description = "YAML config file layered over the preset" };
    public readonly Option<string[]> Set = new("--set") { Description = "Override one field, e.g. --set model.transformer.num_layers=2 (repeatable)", AllowMultipleArgumentsPerToken = false };

    public void AddTo(Command c)
    {
        c.Options.Add(Preset);
        c.Options.Add(File);
        c.Options.Add(Set);
    }

    public AvBertConfig Load(ParseResult r) => ConfigLoader.Load(r.GetValue(Preset), r.GetValue(File), r.GetValue(Set) ?? []);
}

/// <summary>--device cpu|cuda|cuda:N|auto.</summary>
public sealed class DeviceOption
{
    public readonly Option<string> Option = new("--device") { Description = "cpu, cuda, cuda:N or auto (CUDA when available)", DefaultValueFactory = _ => "auto" };
    public void AddTo(Command c) => c.Options.Add(Option);
    /// <summary>The device given (resolved by the job, see <see cref="JobProcess.Device"/>).</summary>
    public string Name(ParseResult r) => r.GetValue(Option) ?? "auto";
    /// <summary>The device, placed for this rank under mpirun (<see cref="JobProcess.Device"/>).</summary>
    public Device Resolve(ParseResult r) => JobProcess.Device(Name(r));
}

/// <summary>--precision auto|fp32|tf32|bf16: the arithmetic (<see cref="TrainConfig.Precision"/>); not given: null.</summary>
public sealed class PrecisionOption(string description)
{
    public readonly Option<string?> Option = new("--precision") { Description = description };
    public void AddTo(Command c) => c.Options.Add(Option);
    public Precision? Get(ParseResult r) => r.GetValue(Option) is { } s ? Parse(s) : null;

    /// <summary>A comma-separated list of precisions (bench step's sweep).</summary>
    public static Precision[] List(string list) => list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToArray();

    static Precision Parse(string s) => s.Trim().ToLowerInvariant() switch
    {
        "auto" => Precision.Auto,
        "fp32" => Precision.Fp32,
        "tf32" => Precision.Tf32,
        "bf16" => Precision.Bf16,
        "fp16" => Precision.Fp16,
        _ => throw new UserError($"--precision {s}: unknown. Valid: auto, fp32, tf32, bf16, fp16."),
    };
}

/// <summary>--retries N of the training commands (see <see cref="TrainingJobOptions.Retries"/>).</summary>
public sealed class RetriesOption
{
    public readonly Option<int> Option = new("--retries")
    {
        Description = "Start again from the latest checkpoint this many times when libtorch fails mid-run (a rare TorchSharp race; " +
                      "a failure at the same step twice is final)",
        DefaultValueFactory = _ => TrainingJobOptions.DefaultRetries,
    };
    public void AddTo(Command c) => c.Options.Add(Option);
    public int Get(ParseResult r) => r.GetValue(Option);
}

/// <summary>`--allow-data-change` of the training commands: with --resume, continue on another --data than the run's own.</summary>
public sealed class AllowDataChangeOption
{
    public readonly Option<bool> Option = new("--allow-data-change")
    {
        Description = "With --resume: continue on another --data than the run was trained on (the change is recorded in run.json)",
    };
    public void AddTo(Command c) => c.Options.Add(Option);
    public bool Get(ParseResult r) => r.GetValue(Option);
}

/// <summary>The options several commands share, defined once (each command says what its --out or --data holds).</summary>
public static class CommonOptions
{
    /// <summary>An option whose type and default come from <paramref name="defaultValue"/> (e.g. an enum of the library).</summary>
    public static Option<T> WithDefault<T>(string name, string description, T defaultValue) =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue };

    /// <summary>--out (required): what the command writes there.</summary>
    public static Option<string> Out(string description) => new("--out") { Description = description, Required = true };

    /// <summary>--runtime libtorch|onnx of `predict` and `extract` (docs/export.md).</summary>
    public static Option<string> Runtime() => new("--runtime")
    {
        Description = "libtorch (default) or onnx: run the model exported to ONNX in ONNX Runtime (CPU; its CUDA provider where installed)",
        DefaultValueFactory = _ => "libtorch",
    };

    /// <summary>--data (required): which sources the command takes.</summary>
    public static Option<string> Data(string description) => new("--data") { Description = description, Required = true };

    /// <summary>--model (required): which kinds of model folder the command takes.</summary>
    public static Option<string> Model(string description) => new("--model") { Description = description, Required = true };

    /// <summary>--split of --data.</summary>
    public static Option<string> Split(string description, string defaultSplit) =>
        new("--split") { Description = description, DefaultValueFactory = _ => defaultSplit };

    /// <summary>--workers: threads decoding (or preparing) files; 0 is one per core.</summary>
    public static Option<int> Workers(string description = "Decode threads (0: one per core)") =>
        new("--workers") { Description = description, DefaultValueFactory = _ => 0 };

    /// <summary>--progress of the training commands.</summary>
    public static Option<ProgressMode> Progress() =>
        new("--progress") { Description = "auto (live bar on a terminal, lines otherwise), live, plain, off", DefaultValueFactory = _ => ProgressMode.Auto };

    /// <summary>--resume of the training commands; <paramref name="example"/> names a setting --set may extend.</summary>
    public static Option<bool> Resume(string? example = null) =>
        new("--resume") { Description = $"Continue the run in --out from its latest checkpoint (uses --out/config.yaml; --set may extend it{(example is null ? "" : $", e.g. {example}")})" };
}
