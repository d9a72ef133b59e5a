using System.Collections;
using AvBert.Config;
using AvBert.Storage;
using AvBert.Runtime;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace AvBert.Model.Reference;

/// <summary>A reference checkpoint brought over: our config, the model holding its weights, and what was not carried over.</summary>
public sealed record ReferenceImport(AvBertConfig Config, AvBertModel Model, IReadOnlyList<string> Warnings, int TensorsLoaded);

/// <summary>
/// Brings a checkpoint of the authors' PyTorch code (torch.save zip: {"state_dict": ...} as in their released
/// checkpoint.pyth, {"model_state_dict": ...} as their fine-tuning saves, or a bare state dict; keys optionally prefixed
/// "module." and "avbert.") into an <see cref="AvBertModel"/>. Every weight the config needs must be there with the
/// right shape; aliases of shared Transformers, cached Σ (_B) and BN counters are checked or skipped; anything else
/// (classification heads, unused factor sets) is reported and ignored.
/// </summary>
public static class ReferenceCheckpoint
{
    /// <param name="onWarning">told each warning as soon as it is known (config warnings before any checkpoint error)</param>
    public static ReferenceImport Convert(string checkpointPath, string referenceConfigPath, Action<string>? onWarning = null)
    {
        var converted = ReferenceConfig.Load(referenceConfigPath);
        foreach (var w in converted.Warnings) onWarning?.Invoke(w);
        var state = ReadStateDict(checkpointPath);
        var model = new AvBertModel(converted.Config.Model);
        try
        {
            var (loaded, warnings) = LoadInto(model, state, checkpointPath);
            foreach (var w in warnings) onWarning?.Invoke(w);
            return new ReferenceImport(converted.Config, model, [.. converted.Warnings, .. warnings], loaded);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
    }

    /// <summary>The backbone's tensors, keyed without the "module." and "avbert." prefixes.</summary>
    public static Dictionary<string, Tensor> ReadStateDict(string path)
    {
        if (!File.Exists(path)) throw new UserError($"--from-reference {path}: file not found.");
        Hashtable top;
        try
        {
            using var stream = File.OpenRead(path);
            top = PyTorchUnpickler.UnpickleStateDict(stream);
        }
        catch (NotImplementedException)
        {
            throw new UserError($"{path}: not a torch.save zip archive (the legacy pre-1.6 format or not a PyTorch file). " +
                                "Fix: re-save it with torch.save(torch.load(f), f) under PyTorch ≥ 1.6.");
        }
        catch (Exception e) when (e is not UserError)
        {
            throw new UserError($"{path}: cannot read this PyTorch checkpoint ({e.GetType().Name}: {e.Message}).", e);
        }
        var dict = (top["state_dict"] ?? top["model_state_dict"]) as Hashtable ?? top;
        var raw = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry e in dict)
            if (e.Key is string k && e.Value is Tensor t)
                raw[k.StartsWith("module.") ? k["module.".Length..] : k] = t;
        if (raw.Count == 0)
            throw new UserError($"{path}: no tensors found (expected a state dict, or a dict with 'state_dict' or 'model_state_dict').");
        bool prefixed = raw.Keys.Any(k => k.StartsWith("avbert."));
        var result = new Dictionary<string, Tensor>();
        foreach (var (k, t) in raw)
        {
            if (prefixed && !k.StartsWith("avbert.")) { result["(outside avbert) " + k] = t; continue; }
            result[prefixed ? k["avbert.".Length..] : k] = t;
        }
        return result;
    }

    /// <summary>Copies the reference tensors into <paramref name="model"/>. Returns how many were copied and the warnings.</summary>
    public static (int Loaded, List<string> Warnings) LoadInto(AvBertModel model, IReadOnlyDictionary<string, Tensor> reference, string source)
    {
        var cfg = model.Config;
        var warnings = new List<string>();
        var consumed = new HashSet<string>();
        var sigmaChecks = new List<(string Ours, string Cached)>();
        int loaded = 0;
        var ourState = model.state_dict();
        // Counters and identity bases may be absent in older checkpoints; ours keep their defaults. Weights the model
        // does not use (aliases, cached Σ) are looked at below. Dtypes are converted.
        WeightsMatch.Check(ourState, reference.ToDictionary(kv => kv.Key, kv => new StoredWeight(kv.Value.shape, null)), source,
                           "pass the --reference-config this checkpoint was trained with.",
                           storedName: ours => ReferenceKeys.ToReference(ours, cfg),
                           optional: ours => ours.EndsWith("num_batches_tracked") || ours.EndsWith("sigma.base"),
                           allowUnexpected: true, shown: key => "avbert." + key);
        using var _ = no_grad();
        foreach (var (ours, target) in ourState)
        {
            var key = ReferenceKeys.ToReference(ours, cfg);
            if (!reference.TryGetValue(key, out var value)) continue;
            target.copy_(value.to(target.dtype));
            consumed.Add(key);
            loaded++;
            if (ours.EndsWith("sigma.a")) sigmaChecks.Add((ours, key[..^".A".Length] + "._B"));
        }

        // Cached Σ: the reference stores B = base·expm(S−Sᵀ) next to A; ours recomputes it, they must agree.
        var state = model.named_modules().ToDictionary(m => m.name, m => m.module);
        double worst = 0;
        string worstKey = "";
        foreach (var (ours, cached) in sigmaChecks)
        {
            if (!reference.TryGetValue(cached, out var b)) continue;
            consumed.Add(cached);
            var sigma = (OrthogonalMatrix)state[ours[..^".a".Length]];
            double diff = (sigma.forward() - b.to(float32)).abs().max().item<float>();
            if (diff > worst) (worst, worstKey) = (diff, cached);
        }
        if (worst > 1e-4)
            warnings.Add($"{source}: a cached orthogonal matrix differs from the one recomputed from A and base by {worst:g3} " +
                         $"('avbert.{worstKey}'); the recomputed one is used. Check TRANSFORMER.ORTHOGONAL_MODE in the config.");

        // Aliases: the reference registers a Transformer shared across modalities under every name it is used by.
        if (model.TransformerStacks.ContainsKey(TransformerSharing.SharedStackName))
        {
            var aliases = TransformerSharing.TransformersOf(cfg).Select(n => ReferenceKeys.StackName(TransformerSharing.OwnStackName(n))).ToList();
            int differing = 0;
            foreach (var key in consumed.Where(k => k.StartsWith("transformer.")).ToList())
                foreach (var alias in aliases)
                {
                    var aliasKey = alias + key["transformer".Length..];
                    if (!reference.TryGetValue(aliasKey, out var a)) continue;
                    consumed.Add(aliasKey);
                    if (!a.shape.SequenceEqual(reference[key].shape) || !a.allclose(reference[key], rtol: 0, atol: 0)) differing++;
                }
            if (differing > 0)
                warnings.Add($"{source}: {differing} tensors under the shared Transformer's other names differ from 'transformer.*' " +
                             "(was this checkpoint trained without SHARING_ACROSS_MODELS?); used 'transformer.*'.");
        }

        else
        {
            // Own stacks from a checkpoint whose model shared one Transformer (SHARING_ACROSS_MODELS with a single
            // Transformer, or loaded as unshared): its "transformer.*" copies are the ones read under the user's name.
            foreach (var key in consumed.ToList())
            {
                int at = key.IndexOf("_transformer.", StringComparison.Ordinal);
                if (at < 0) continue;
                var sharedKey = "transformer." + key[(at + "_transformer.".Length)..];
                if (reference.TryGetValue(sharedKey, out var a) && a.shape.SequenceEqual(reference[key].shape) && a.allclose(reference[key], rtol: 0, atol: 0))
                    consumed.Add(sharedKey);
            }
        }

        consumed.Add("summary_encoding.positional_encoding.pe");   // fixed sinusoids, recomputed
        var unused = reference.Keys.Where(k => !consumed.Contains(k) && !k.EndsWith("num_batches_tracked")).OrderBy(k => k).ToList();
        if (unused.Count > 0)
            warnings.Add($"{source}: ignored {unused.Count} tensors the backbone does not use (heads, unused factor sets): " +
                         string.Join(", ", unused.Take(4).Select(k => k.StartsWith("(") ? k : "avbert." + k)) + (unused.Count > 4 ? ", ..." : "") + ".");
        return (loaded, warnings);
    }
}
