using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using AvBert.Storage;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// Our model directory: <c>config.yaml</c> (the whole <see cref="AvBertConfig"/>) + <c>weights.safetensors</c>
/// (the model's state dict, keys = our module names, every tensor once), and for a fine-tuned model
/// <c>head.safetensors</c> (the task's heads). Save then Load gives back the same tensors. A run folder RUN keeps its
/// model in RUN/model; every command that takes --model accepts RUN or RUN/model (<see cref="Resolve"/>).
/// </summary>
public static class ModelDirectory
{
    public const string ConfigFile = "config.yaml";
    public const string WeightsFile = "weights.safetensors";
    public const string HeadFile = "head.safetensors";
    public const string ModelSubdirectory = "model";
    public const string CrossValidationFile = "crossval.json";

    /// <summary>Writes the config, the backbone's weights and, for a fine-tuned model, <paramref name="heads"/>.</summary>
    public static void Save(string dir, AvBertConfig cfg, Module m, IEnumerable<KeyValuePair<string, Tensor>>? heads = null)
    {
        Directory.CreateDirectory(dir);
        SafetensorsFile.Write(Path.Combine(dir, WeightsFile), m.state_dict());
        ConfigLoader.Save(cfg, Path.Combine(dir, ConfigFile));
        // Last: a run that finds the heads takes the directory as complete (finetune --resume).
        if (heads is not null) SafetensorsFile.Write(Path.Combine(dir, HeadFile), heads);
    }

    /// <summary>The model directory behind <paramref name="path"/>: itself, or its model/ subfolder (a run folder).</summary>
    public static string Resolve(string path, string option = "--model")
    {
        if (IsModelDirectory(path)) return path;
        var sub = Path.Combine(path, ModelSubdirectory);
        if (IsModelDirectory(sub)) return sub;
        if (File.Exists(Path.Combine(path, CrossValidationFile)))
        {
            var first = Directory.EnumerateDirectories(path, "fold-*").Order(StringComparer.Ordinal).FirstOrDefault();
            throw new UserError($"{option} {path}: a cross-validation run has one model per fold. Fix: name one, e.g. {option} {first ?? Path.Combine(path, "fold-1")}.");
        }
        if (!Directory.Exists(path)) throw new UserError($"{option} {path}: directory not found.");
        throw new UserError($"{option} {path}: not a model directory or run folder (needs {ConfigFile} and {WeightsFile}, " +
                            $"here or in {ModelSubdirectory}/). Make one with `avbert pretrain`, `avbert finetune` or `avbert convert`.");
    }

    static bool IsModelDirectory(string dir) =>
        File.Exists(Path.Combine(dir, ConfigFile)) && File.Exists(Path.Combine(dir, WeightsFile));

    /// <summary>Builds the model the directory's config describes, loads its weights, and moves it to <paramref name="device"/>.</summary>
    public static (AvBertConfig Config, AvBertModel Model) Load(string dir, Device device)
    {
        if (!Directory.Exists(dir)) throw new UserError($"--model {dir}: directory not found.");
        var cfgPath = Path.Combine(dir, ConfigFile);
        var weightsPath = Path.Combine(dir, WeightsFile);
        if (!File.Exists(cfgPath) || !File.Exists(weightsPath))
            throw new UserError($"--model {dir}: not a model directory (needs {ConfigFile} and {WeightsFile}). " +
                                "Make one with `avbert convert` or by training.");
        var cfg = ConfigLoader.LoadFile(cfgPath);
        var model = new AvBertModel(cfg.Model);
        try
        {
            LoadWeights(model, weightsPath);
            model.to(device);
            return (cfg, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Copies a weights.safetensors into <paramref name="model"/>: every key must match in name, shape and dtype, and
    /// every float weight must be finite (<see cref="SafetensorsFile.LoadInto"/>).
    /// </summary>
    public static void LoadWeights(Module model, string weightsPath) => LoadWeights(model.state_dict(), weightsPath);

    /// <summary>Copies a weights file (the backbone's or the heads') into <paramref name="target"/>, checked as above.</summary>
    public static void LoadWeights(IReadOnlyDictionary<string, Tensor> target, string weightsPath) =>
        SafetensorsFile.LoadInto(target, weightsPath, $"keep {ConfigFile}, {WeightsFile} and {HeadFile} from the same save.");
}
