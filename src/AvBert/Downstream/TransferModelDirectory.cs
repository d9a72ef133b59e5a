using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using AvBert.IO;
using static TorchSharp.torch;

namespace AvBert.Downstream;

/// <summary>
/// A fine-tuned model on disk: a model directory (config.yaml with the downstream task and class names,
/// weights.safetensors with the backbone) plus head.safetensors with the task's head(s). A run folder RUN keeps it in
/// RUN/model; every command that takes --model accepts RUN or RUN/model (pretraining runs too).
/// </summary>
public static class TransferModelDirectory
{
    public const string HeadFile = "head.safetensors";
    public const string ModelSubdirectory = "model";
    public const string CrossValidationFile = "crossval.json";

    /// <summary>The model directory behind <paramref name="path"/>: itself, or its model/ subfolder (a run folder).</summary>
    public static string Resolve(string path, string option = "--model")
    {
        if (IsModelDir(path)) return path;
        var sub = Path.Combine(path, ModelSubdirectory);
        if (IsModelDir(sub)) return sub;
        if (File.Exists(Path.Combine(path, CrossValidationFile)))
        {
            var first = Directory.EnumerateDirectories(path, "fold-*").Order(StringComparer.Ordinal).FirstOrDefault();
            throw new UserError($"{option} {path}: a cross-validation run has one model per fold. Fix: name one, e.g. {option} {first ?? Path.Combine(path, "fold-1")}.");
        }
        if (!Directory.Exists(path)) throw new UserError($"{option} {path}: directory not found.");
        throw new UserError($"{option} {path}: not a model directory or run folder (needs {ModelDirectory.ConfigFile} and {ModelDirectory.WeightsFile}, " +
                            $"here or in {ModelSubdirectory}/). Make one with `avbert pretrain`, `avbert finetune` or `avbert convert`.");
    }

    static bool IsModelDir(string dir) =>
        File.Exists(Path.Combine(dir, ModelDirectory.ConfigFile)) && File.Exists(Path.Combine(dir, ModelDirectory.WeightsFile));

    public static void Save(string dir, AvBertConfig config, TransferModel model)
    {
        ModelDirectory.Save(dir, config, model.Backbone);
        SafetensorsFile.Write(Path.Combine(dir, HeadFile), model.HeadStateDict());
    }

    /// <summary>Loads a fine-tuned model (backbone + heads) for evaluation and prediction.</summary>
    public static (AvBertConfig Config, TransferModel Model) Load(string path, Device device, string option = "--model")
    {
        var dir = Resolve(path, option);
        var headPath = Path.Combine(dir, HeadFile);
        var cfgPeek = ConfigLoader.LoadFile(Path.Combine(dir, ModelDirectory.ConfigFile));
        if (!File.Exists(headPath) || cfgPeek.Downstream.ClassNames.Length == 0)
            throw new UserError($"{option} {path}: a model without a classification head (no {HeadFile} or no downstream.class_names): " +
                                "it is a pretrained or converted model. Fix: fine-tune it first (`avbert finetune --init " + path + " ...`), " +
                                "or use `avbert extract` for its features.");
        var (cfg, backbone) = ModelDirectory.Load(dir, device);
        var model = new TransferModel(backbone, OptionsFor(cfg));
        try
        {
            ModelDirectory.LoadWeights(new HeadView(model), headPath);
            model.to(device);
            model.eval();
            return (cfg, model);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The head options a config describes (task, protocol, class count, dropout, init).</summary>
    public static TransferModelOptions OptionsFor(AvBertConfig cfg)
    {
        var d = cfg.Downstream;
        var t = d.Current;
        return new TransferModelOptions(d.Task, t.Protocol, d.ClassNames.Length, t.Dropout, d.FcInitStd, d.HeadLayerNormEps);
    }

    /// <summary>A module whose state dict is exactly the heads of a <see cref="TransferModel"/> (to load head.safetensors strictly).</summary>
    sealed class HeadView : nn.Module
    {
        readonly TransferModel _model;
        public HeadView(TransferModel model) : base("HeadView") => _model = model;
        public override Dictionary<string, Tensor> state_dict(Dictionary<string, Tensor>? destination = null, string? prefix = null) =>
            _model.HeadStateDict();
    }
}
