using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using AvBert.Storage;
using static TorchSharp.torch;

namespace AvBert.Downstream;

/// <summary>
/// A fine-tuned model on disk: a <see cref="ModelDirectory"/> whose config.yaml names the downstream task and classes and
/// whose head.safetensors holds the task's head(s). This adds only what needs a <see cref="TransferModel"/>: saving
/// one and building one back.
/// </summary>
public static class TransferModelDirectory
{
    public const string HeadFile = ModelDirectory.HeadFile;
    public const string ModelSubdirectory = ModelDirectory.ModelSubdirectory;
    public const string CrossValidationFile = ModelDirectory.CrossValidationFile;

    /// <inheritdoc cref="ModelDirectory.Resolve"/>
    public static string Resolve(string path, string option = "--model") => ModelDirectory.Resolve(path, option);

    public static void Save(string dir, AvBertConfig config, TransferModel model) =>
        ModelDirectory.Save(dir, config, model.Backbone, model.HeadStateDict());

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
            ModelDirectory.LoadWeights(model.HeadStateDict(), headPath);
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
}
