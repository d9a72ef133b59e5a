using System.Globalization;
using System.Text;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Runtime;
using AvBert.Storage;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>What a single (not cross-validated) `finetune` trains on and tests on, and the line that says so.</summary>
/// <param name="Test">Null: no final test (--no-test, or nothing left to hold out).</param>
/// <param name="Line">One line for the log naming where the test videos come from; null when the source's own test split is used as is.</param>
public sealed record FinetuneSplit(MediaSource Train, MediaSource? Test, string? Line)
{
    /// <summary>Fraction of each class held out for the test when the source has no test split of its own and no choice was given.</summary>
    public const double DefaultValFraction = 0.2;

    /// <summary>The run folder's record of the split: path, label(s), start, end, split (train|test); readable as <c>csv:RUN/split.csv</c>.</summary>
    public const string RecordFile = "split.csv";

    /// <summary>
    /// Chooses the test videos, in this order: <c>--no-test</c> (none); <c>--test-data SRC</c> (its <c>--test-split</c>);
    /// <c>--val-fraction F</c> (a seeded hold-out of F of each class of the training split); the source's own
    /// <c>--test-split</c>; and, when the source has none (no such split, an empty one, or one that lists the training
    /// videos, as a folder per class without train/ and test/ subfolders does), the default hold-out of
    /// <see cref="DefaultValFraction"/>. Held-out videos are never trained on. The test is never on training videos
    /// without a line saying so.
    /// </summary>
    public static FinetuneSplit Choose(MediaSource train, FinetuneOptions o, Config.DataConfig data, Config.DownstreamTask task, int seed, SkippedLog skipped)
    {
        int chosen = (o.NoTest ? 1 : 0) + (o.TestData is null ? 0 : 1) + (o.ValFraction is null ? 0 : 1);
        if (chosen > 1)
            throw new UserError("--no-test, --test-data and --val-fraction are alternatives: give one of them (or none: the source's test split).");
        if (o.NoTest) return new FinetuneSplit(train, null, "test: none (--no-test); every training video trains.");
        if (o.TestData is { } other)
        {
            var test = DataSpec.OpenLabeled(other, o.TestSplit, data, skipped);
            TaskData.CheckLabels(test, task, "--test-data");
            int shared = Overlap(train, test);
            return new FinetuneSplit(train, test, $"test: {test.Items.Count} videos of {test.Name} (--test-data)" +
                (shared == 0 ? "." : $"; note: {shared} of them are also training videos."));
        }
        if (o.ValFraction is { } f)
        {
            if (!(f > 0 && f < 1))
                throw new UserError($"--val-fraction {f.ToString(CultureInfo.InvariantCulture)}: must be between 0 and 1 (e.g. 0.2 holds out 20 % of each class). Fix: give a fraction, or --no-test.");
            return HoldOut(train, f, seed, "--val-fraction", Path.Combine(o.RunDir, RecordFile));
        }
        MediaSource? own = null;
        try { own = DataSpec.OpenLabeled(o.Data, o.TestSplit, data, skipped); }
        catch (UserError) { }
        int overlap = own is null ? 0 : Overlap(train, own);
        if (own is null || own.Items.Count == 0 || overlap == own.Items.Count)
            return HoldOut(train, DefaultValFraction, seed, $"{train.Name} has no separate '{o.TestSplit}' split", Path.Combine(o.RunDir, RecordFile));
        return new FinetuneSplit(train, own, overlap == 0 ? null
            : $"test: {own.Items.Count} videos of {own.Name}; note: {overlap} of them are also training videos (the source lists them in both splits).");
    }

    /// <summary>
    /// Holds out <paramref name="fraction"/> of each class (each label set, for multi-label data): round(fraction·n)
    /// videos of a class of n ≥ 2, at least one and never all; a class of one video only trains. The choice depends only
    /// on the seed and the source's (sorted) order.
    /// </summary>
    static FinetuneSplit HoldOut(MediaSource source, double fraction, int seed, string why, string recordPath)
    {
        var groups = source.Items.Select((item, i) => (item, i)).GroupBy(x => string.Join(',', x.item.Labels.Order()), StringComparer.Ordinal)
                           .OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var heldOut = new HashSet<int>();
        for (int g = 0; g < groups.Count; g++)
        {
            var members = groups[g].Select(x => x.i).ToList();
            int n = members.Count;
            int k = n < 2 ? 0 : Math.Clamp((int)Math.Round(fraction * n, MidpointRounding.AwayFromZero), 1, n - 1);
            var order = Seeds.Permutation(n, seed, g);
            for (int j = 0; j < k; j++) heldOut.Add(members[order[j]]);
        }
        var train = source with { Items = source.Items.Where((_, i) => !heldOut.Contains(i)).ToList() };
        var test = heldOut.Count == 0 ? null
            : source with { Name = $"{source.Name} (held out)", Items = source.Items.Where((_, i) => heldOut.Contains(i)).ToList() };
        var pct = (fraction * 100).ToString("0.#", CultureInfo.InvariantCulture);
        string line = test is null
            ? $"test: none — {why}, and no class has two videos to hold one out. Fix: --test-data SRC."
            : $"test: {why}: holding out {pct} % of each class, {test.Items.Count} of {source.Items.Count} videos (seed {seed}), never trained on; " +
              $"listed in {recordPath}. Choose with --val-fraction F, --test-data SRC or --no-test.";
        return new FinetuneSplit(train, test, line);
    }

    /// <summary>Writes RUN/split.csv: every video trained or tested on, with its labels and role.</summary>
    public void Write(string runDir)
    {
        var sb = new StringBuilder("path,label,start,end,split\n");
        void Rows(MediaSource? s, string role)
        {
            if (s is null) return;
            foreach (var i in s.Items)
                sb.Append(Quote(i.Path)).Append(',').Append(Quote(string.Join(';', i.Labels.Select(l => s.ClassNames[l])))).Append(',')
                  .Append(i.Start?.ToString("R", CultureInfo.InvariantCulture)).Append(',').Append(i.End?.ToString("R", CultureInfo.InvariantCulture))
                  .Append(',').Append(role).Append('\n');
        }
        Rows(Train, "train");
        Rows(Test, "test");
        AtomicFile.WriteAllText(Path.Combine(runDir, RecordFile), sb.ToString());
    }

    static string Quote(string s) => s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    static int Overlap(MediaSource a, MediaSource b)
    {
        var paths = a.Items.Select(i => (i.Path, i.Start, i.End)).ToHashSet();
        return b.Items.Count(i => paths.Contains((i.Path, i.Start, i.End)));
    }
}
