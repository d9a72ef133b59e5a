using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;
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
        var state = new Dictionary<string, Tensor>();
        foreach (var (k, t) in m.state_dict())
            state[k] = t.detach().cpu().contiguous();
        var weights = Path.Combine(dir, WeightsFile);
        var tmp = weights + ".tmp";
        Safetensors.SaveStateDict(tmp, state);
        File.Move(tmp, weights, overwrite: true);
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
        var model = new AvBertModel(cfg.Model, cfg.Data);
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

    /// <summary>Copies a weights.safetensors into <paramref name="model"/>; every key must match in name and shape.</summary>
    public static void LoadWeights(Module model, string weightsPath)
    {
        Dictionary<string, Tensor> source;
        try { source = Safetensors.LoadStateDict(weightsPath); }
        catch (Exception e) { throw new UserError($"{weightsPath}: cannot read safetensors ({e.Message}).", e); }
        try
        {
            var target = model.state_dict();
            var missing = target.Keys.Where(k => !source.ContainsKey(k)).ToList();
            var unexpected = source.Keys.Where(k => !target.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new UserError($"{weightsPath}: does not fit the model its config.yaml describes" +
                                    (missing.Count > 0 ? $"; missing {missing.Count} (e.g. '{missing[0]}')" : "") +
                                    (unexpected.Count > 0 ? $"; unexpected {unexpected.Count} (e.g. '{unexpected[0]}')" : "") +
                                    ". Fix: keep config.yaml and weights.safetensors from the same save.");
            using var _ = no_grad();
            foreach (var (k, t) in target)
            {
                var s = source[k];
                if (!s.shape.SequenceEqual(t.shape))
                    throw new UserError($"{weightsPath}: '{k}' has shape [{string.Join(", ", s.shape)}] but the config needs " +
                                        $"[{string.Join(", ", t.shape)}]. Fix: keep config.yaml and weights.safetensors from the same save.");
                t.copy_(s.to(t.dtype));
            }
        }
        finally
        {
            foreach (var t in source.Values) t.Dispose();
        }
    }
}
