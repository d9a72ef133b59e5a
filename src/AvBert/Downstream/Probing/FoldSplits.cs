using AvBert.Data;

namespace AvBert.Downstream.Probing;

/// <summary>One train/test division of the items (indices into the feature rows).</summary>
public sealed record ProbeFold(string Name, int[] Train, int[] Test);

/// <summary>
/// The train/test divisions a probe is scored on: the source's own train/test split, the source's own folds (ESC-50:
/// leave one fold out), or a stratified k-fold with a fixed seed, repeated with seeds seed, seed+1, ….
/// </summary>
public static class FoldSplits
{
    /// <summary>
    /// The fold (0..folds-1) of each item: per class (in ascending label order), its items in a seeded random order are
    /// dealt to the folds in turn, each class starting where the previous one stopped — so every class is spread over the
    /// folds as evenly as its size allows (counts differ by at most one) and the fold sizes differ by at most one. Depends
    /// only on the labels, the fold count and the seed.
    /// </summary>
    public static int[] Stratified(IReadOnlyList<int> labels, int folds, int seed)
    {
        if (folds < 2) throw new ArgumentException($"k-fold needs at least 2 folds, got {folds}", nameof(folds));
        if (folds > labels.Count) throw new ArgumentException($"{folds} folds for {labels.Count} items", nameof(folds));
        var fold = new int[labels.Count];
        int next = 0;
        foreach (var cls in labels.Distinct().Order())
        {
            var members = Enumerable.Range(0, labels.Count).Where(i => labels[i] == cls).ToArray();
            var order = Seeds.Permutation(members.Length, seed, cls);
            foreach (var j in order)
            {
                fold[members[j]] = next;
                next = (next + 1) % folds;
            }
        }
        return fold;
    }

    /// <summary>Stratified k-fold (<see cref="Stratified"/>) repeated <paramref name="repeats"/> times with seeds seed, seed+1, …:
    /// folds × repeats divisions, named "r1-f1" … (or "fold-1" … with one repeat).</summary>
    public static IReadOnlyList<ProbeFold> KFold(IReadOnlyList<int> labels, int folds, int repeats, int seed)
    {
        var result = new List<ProbeFold>();
        for (int r = 0; r < repeats; r++)
        {
            var fold = Stratified(labels, folds, seed + r);
            for (int f = 0; f < folds; f++)
                result.Add(Divide(repeats == 1 ? $"fold-{f + 1}" : $"r{r + 1}-f{f + 1}", fold, f));
        }
        return result;
    }

    /// <summary>Leave one of the source's own folds out (items with a null fold are not used).</summary>
    public static IReadOnlyList<ProbeFold> LeaveOneFoldOut(IReadOnlyList<int?> folds)
    {
        var fold = folds.Select(f => f ?? int.MinValue).ToArray();
        return folds.Where(f => f is not null).Select(f => f!.Value).Distinct().Order()
                    .Select(f => Divide($"fold-{f}", fold, f, ignore: int.MinValue)).ToList();
    }

    /// <summary>The source's own split: items marked "train" train, items marked "test" test, the rest are not used.</summary>
    public static ProbeFold TrainTest(IReadOnlyList<string?> splits) =>
        new("test", Enumerable.Range(0, splits.Count).Where(i => splits[i] == "train").ToArray(),
                    Enumerable.Range(0, splits.Count).Where(i => splits[i] == "test").ToArray());

    static ProbeFold Divide(string name, int[] fold, int test, int? ignore = null) =>
        new(name, Enumerable.Range(0, fold.Length).Where(i => fold[i] != test && fold[i] != ignore).ToArray(),
                  Enumerable.Range(0, fold.Length).Where(i => fold[i] == test).ToArray());
}
