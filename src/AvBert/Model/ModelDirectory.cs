using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using AvBert.IO;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>
/// Our model directory: <c>config.yaml</c> (the whole <see cref="AvBertConfig"/>) + <c>weights.safetensors</c>
/// (the model's state dict, keys = our module names, every tensor once). Save then Load gives back the same tensors.
/// </summary>
public static class ModelDirectory
{
    public const string ConfigFile = "config.yaml";
    public const string WeightsFile = "weights.safetensors";

    public static void Save(string dir, AvBertConfig cfg, Module m)
    {
        Directory.CreateDirectory(dir);
        SafetensorsFile.Write(Path.Combine(dir, WeightsFile), m.state_dict());
        ConfigLoader.Save(cfg, Path.Combine(dir, ConfigFile));
    }

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
    public static void LoadWeights(Module model, string weightsPath) =>
        SafetensorsFile.LoadInto(model.state_dict(), weightsPath, "keep config.yaml and weights.safetensors from the same save.");
}
