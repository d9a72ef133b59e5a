using AvBert.Runtime;
using static TorchSharp.torch;

namespace AvBert.Storage;

/// <summary>What is known of one stored weight before it is read: its shape, and its dtype where the store keeps it
/// as is (null: converted on load, not compared).</summary>
public readonly record struct StoredWeight(long[] Shape, ScalarType? DType);

/// <summary>
/// The one check of stored weights against the tensors they go into (a module's state dict): every weight the model
/// needs is stored, with its shape (and dtype); nothing stored is left over. All differences go into one
/// <see cref="UserError"/>: "SOURCE: the weights do not fit this model: missing weight 'x' (the model needs [64]) and
/// 2 more; weight 'y' has shape [128, 16] but the model needs [96, 16]. Fix: ...".
/// </summary>
public static class WeightsMatch
{
    /// <param name="target">our name → the tensor the weight goes into</param>
    /// <param name="stored">stored name → what the store holds</param>
    /// <param name="storedName">our name → the stored name (null: the same)</param>
    /// <param name="optional">our names that may be absent (they keep their values)</param>
    /// <param name="allowUnexpected">stored weights the model does not use are the caller's business (not a problem)</param>
    /// <param name="shown">how a stored name is shown in the message (null: as is)</param>
    public static void Check(IReadOnlyDictionary<string, Tensor> target, IReadOnlyDictionary<string, StoredWeight> stored,
                             string source, string fix, Func<string, string>? storedName = null, Func<string, bool>? optional = null,
                             bool allowUnexpected = false, Func<string, string>? shown = null)
    {
        storedName ??= k => k;
        shown ??= k => k;
        var problems = new List<string>();
        var missing = new List<(string Name, Tensor Target)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (ours, t) in target)
        {
            var name = storedName(ours);
            if (!stored.TryGetValue(name, out var w))
            {
                if (optional?.Invoke(ours) != true) missing.Add((name, t));
                continue;
            }
            used.Add(name);
            if (!w.Shape.SequenceEqual(t.shape))
                problems.Add($"weight '{shown(name)}' has shape {Shape(w.Shape)} but the model needs {Shape(t.shape)}");
            else if (w.DType is { } dtype && dtype != t.dtype)
                problems.Add($"weight '{shown(name)}' is {SafetensorsFile.Name(dtype)} but the model needs {SafetensorsFile.Name(t.dtype)}");
        }
        if (missing.Count > 0)
            problems.Insert(0, $"missing weight '{shown(missing[0].Name)}' (the model needs {Shape(missing[0].Target.shape)})" + More(missing.Count));
        if (!allowUnexpected)
        {
            var unexpected = stored.Keys.Where(k => !used.Contains(k)).ToList();
            if (unexpected.Count > 0)
                problems.Insert(missing.Count > 0 ? 1 : 0, $"unexpected weight '{shown(unexpected[0])}'" + More(unexpected.Count));
        }
        if (problems.Count > 0)
            throw new UserError($"{source}: the weights do not fit this model: {string.Join("; ", problems.Take(4))}" +
                                (problems.Count > 4 ? $"; {problems.Count - 4} more" : "") + $". Fix: {fix}");
    }

    static string More(int count) => count > 1 ? $" and {count - 1} more" : "";
    static string Shape(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
