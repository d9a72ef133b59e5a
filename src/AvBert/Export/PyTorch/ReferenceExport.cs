using AvBert.Config;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Storage;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Export.PyTorch;

/// <summary>What <see cref="ReferenceExport.Write"/> wrote.</summary>
/// <param name="Tensors">entries of the state dict (a shared Transformer counts once per name, as in theirs)</param>
/// <param name="Storages">distinct tensors stored in the checkpoint</param>
public sealed record ReferenceExportFiles(string Checkpoint, string Config, string Weights, int Tensors, int Storages);

/// <summary>
/// Our model → the authors' layout (the reverse of <see cref="ReferenceCheckpoint"/>, docs/export.md):
/// <list type="bullet">
/// <item><c>checkpoint.pyth</c>: <c>torch.save({"state_dict": {"avbert." + key: tensor}, "epoch": 0})</c>, the layout of
/// their released checkpoint.pyth, with every key their AVBert's state_dict has: a Transformer shared across Transformers
/// under each name their code registers it by (one storage), the factor sets their unshared low-rank Transformers build
/// but never use (V and A zero, base the identity), BN counters, and the mean-pooled BOS's sinusoid table.
/// The cached Σ (<c>_B</c>) is left out: their code computes it from A and base on first use.</item>
/// <item><c>config.yaml</c>: their yacs keys that build the same AVBert (<see cref="ReferenceConfigWriter"/>).</item>
/// <item><c>weights.safetensors</c>: the same state dict without the "avbert." prefix, for <c>AVBert.load_state_dict</c>.</item>
/// </list>
/// </summary>
public static class ReferenceExport
{
    public const string CheckpointFile = "checkpoint.pyth", ConfigFile = "config.yaml", WeightsFile = "weights.safetensors";
    public const string Prefix = "avbert.";

    /// <summary>Refuses (<see cref="ConfigError"/>) a model their code cannot build, else writes the three files into <paramref name="outDir"/>.</summary>
    public static ReferenceExportFiles Write(AvBertModel model, AvBertConfig config, string outDir, string source)
    {
        var yaml = ReferenceConfigWriter.Write(config, source);
        using var scope = NewDisposeScope();
        var state = StateDict(model, config.Data);
        Directory.CreateDirectory(outDir);
        var files = new ReferenceExportFiles(Path.Combine(outDir, CheckpointFile), Path.Combine(outDir, ConfigFile), Path.Combine(outDir, WeightsFile),
                                             state.Count, state.Select(kv => kv.Value).Distinct(ReferenceEqualityComparer.Instance).Count());
        TorchSaveWriter.WriteCheckpoint(files.Checkpoint, state.Select(kv => KeyValuePair.Create(Prefix + kv.Key, kv.Value)).ToList());
        SafetensorsFile.Write(files.Weights, state);
        AtomicFile.WriteAllText(files.Config, "# The authors' yacs config for this model (AVBERT.NET `avbert export --format pytorch`, docs/export.md).\n" + yaml);
        return files;
    }

    /// <summary>Their state dict (keys without "avbert."), in their order of modules; aliases are the same tensor object.</summary>
    public static List<KeyValuePair<string, Tensor>> StateDict(AvBertModel model, DataConfig data)
    {
        var cfg = model.Config;
        var t = cfg.Transformer;
        var transformers = TransformerSharing.TransformersOf(cfg);
        // Their AVBert registers a Transformer shared across Transformers as "transformer" and under each user's own name
        // (not under early fusion, whose one Transformer is multi_transformer only).
        bool aliased = t.ShareAcrossTransformers is CrossTransformerSharing.All or CrossTransformerSharing.Partial && cfg.Fusion != Fusion.Early;
        var stacks = aliased
            ? [ReferenceKeys.StackName(TransformerSharing.SharedStackName), .. transformers.Select(n => ReferenceKeys.StackName(TransformerSharing.OwnStackName(n)))]
            : new List<string>();
        var head = new List<KeyValuePair<string, Tensor>>();
        var perStack = new Dictionary<string, List<KeyValuePair<string, Tensor>>>();
        foreach (var (ours, tensor) in model.state_dict())
        {
            var key = ReferenceKeys.ToReference(ours, cfg);
            int dot = key.IndexOf('.');
            var stack = key[..dot];
            if (!IsStack(stack))
            {
                head.Add(KeyValuePair.Create(key, tensor));
                continue;
            }
            foreach (var name in aliased ? stacks : [stack])
            {
                if (!perStack.TryGetValue(name, out var list)) perStack[name] = list = [];
                list.Add(KeyValuePair.Create(name + key[dot..], tensor));
                if (t.ShareAcrossTransformers == CrossTransformerSharing.LowRank && transformers.Count > 1)
                    list.AddRange(UnusedFactorSets(key[dot..], name, transformers.Count, tensor));
            }
        }
        if (t.BosMeanPooling)
            head.Add(KeyValuePair.Create("summary_encoding.positional_encoding.pe",
                                         BosEmbeddings.Sinusoid(data.SequenceLength, t.HiddenSize, float32, CPU).unsqueeze(0)));
        var order = aliased ? stacks : perStack.Keys.ToList();
        return [.. head, .. order.Where(perStack.ContainsKey).SelectMany(s => perStack[s])];
    }

    static bool IsStack(string name) => name == "transformer" || name.EndsWith("_transformer", StringComparison.Ordinal);

    /// <summary>
    /// Their unshared low-rank Transformers each build a factor set (ms{j}_linear, orthogonal_ms{j}_linear) for every
    /// Transformer j of the model and use only their own: the others, next to the one we have, as V = 0, A = 0, base = I.
    /// </summary>
    static IEnumerable<KeyValuePair<string, Tensor>> UnusedFactorSets(string rest, string stack, int count, Tensor own)
    {
        var m = System.Text.RegularExpressions.Regex.Match(rest, @"\.(orthogonal_)?ms(\d+)_linear\.(weight|A|base)$");
        if (!m.Success) yield break;
        int index = int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        var prefix = rest[..m.Index];
        for (int j = 0; j < count; j++)
        {
            if (j == index) continue;
            var name = $"{stack}{prefix}.{m.Groups[1].Value}ms{j}_linear.{m.Groups[3].Value}";
            yield return KeyValuePair.Create(name, m.Groups[3].Value == "base" ? eye(own.shape[0], dtype: own.dtype) : zeros_like(own));
        }
    }
}
