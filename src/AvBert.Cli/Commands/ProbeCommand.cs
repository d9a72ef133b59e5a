using System.CommandLine;
using System.Globalization;
using AvBert.Runs;
using Spectre.Console;

namespace AvBert.Cli.Commands;

/// <summary>`avbert probe`: logistic-regression and kNN probes, class retrieval and correct-pair retrieval on frozen features.</summary>
public static class ProbeCommand
{
    /// <summary>The options of the evaluation itself, shared with `bench probe`.</summary>
    public sealed class EvaluationOptions
    {
        static readonly ProbeOptions Defaults = new();
        readonly Option<int> _folds = new("--folds") { Description = "Folds of the stratified k-fold, when the source has no train/test split or folds of its own", DefaultValueFactory = _ => Defaults.Folds };
        readonly Option<int> _repeats = new("--repeats") { Description = "Repeat the k-fold with seeds S, S+1, ...; mean ± std over all folds", DefaultValueFactory = _ => Defaults.Repeats };
        readonly Option<int> _seed = new("--seed") { Description = "Seed of the k-fold and of the linear probes", DefaultValueFactory = _ => 0 };
        readonly Option<bool> _kfold = new("--kfold") { Description = "Stratified k-fold over all videos even when the source has a train/test split" };
        readonly Option<string> _ks = new("--k") { Description = "k of the cosine kNN classifier, comma-separated (none: no kNN)", DefaultValueFactory = _ => string.Join(",", Defaults.Classifiers.Ks) };
        readonly Option<bool> _noLinear = new("--no-linear") { Description = "Skip the logistic-regression probe (kNN only)" };
        readonly Option<int> _steps = new("--probe-steps") { Description = "Full-batch Adam steps of each logistic-regression probe", DefaultValueFactory = _ => Defaults.Classifiers.Linear!.Steps };
        readonly Option<int> _cppVideos = new("--cpp-videos") { Description = "At most this many test videos in the audio↔video (correct-pair head) retrieval; 0: none", DefaultValueFactory = _ => Defaults.CppVideos };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { _folds, _repeats, _seed, _kfold, _ks, _noLinear, _steps, _cppVideos }) c.Options.Add(o);
        }

        public ProbeOptions Apply(ParseResult r, ProbeOptions o)
        {
            var ks = (r.GetValue(_ks) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(k => int.TryParse(k, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
                    : throw new Runtime.UserError($"--k {r.GetValue(_ks)}: give whole numbers, e.g. --k 1,10,20")).ToArray();
            int seed = r.GetValue(_seed);
            return (o with
            {
                Folds = r.GetValue(_folds), Repeats = r.GetValue(_repeats), Seed = seed, KFold = r.GetValue(_kfold), CppVideos = r.GetValue(_cppVideos),
            }).WithClassifiers(ks, r.GetValue(_noLinear) ? null : r.GetValue(_steps), seed);
        }
    }

    public static Command Build()
    {
        var device = new DeviceOption();
        var features = new Option<string?>("--features") { Description = "The output folder of `avbert extract --data SRC` (index.tsv with labels)" };
        var model = new Option<string?>("--model") { Description = "A model: with --data, extract in memory; a pretrain run folder also gives audio↔video retrieval through its correct-pair head (also with --features)" };
        var data = new Option<string?>("--data") { Description = "A labelled source (toy-av:N, classes:DIR, ucf101:ROOT, csv:FILE, ...), with --model" };
        var output = new Option<string?>("--out") { Description = "Folder for probe.json and probe.png (default: the --features folder)" };
        var batch = new Option<int>("--batch-size") { Description = "Videos per forward pass when extracting", DefaultValueFactory = _ => 8 };
        var workers = CommonOptions.Workers();
        var evaluation = new EvaluationOptions();
        var c = new Command("probe", "Judge frozen features in seconds: logistic-regression and kNN (cosine) probes on every feature family, " +
                                     "class retrieval, audio↔video retrieval through the correct-pair head; probe.json, probe.png");
        foreach (var o in new Option[] { features, model, data, output, batch, workers }) c.Options.Add(o);
        evaluation.AddTo(c);
        device.AddTo(c);
        c.SetAction((r, ct) =>
        {
            var options = evaluation.Apply(r, new ProbeOptions
            {
                Features = r.GetValue(features), Model = r.GetValue(model), Data = r.GetValue(data), OutDir = r.GetValue(output),
                BatchSize = r.GetValue(batch), Workers = r.GetValue(workers), Device = device.Resolve(r),
            });
            var summary = ProbeRun.Run(options, ct);
            Print(summary, options.OutDir ?? options.Features!);
            return Task.FromResult(0);
        });
        return c;
    }

    /// <summary>The console table: one row per feature family.</summary>
    public static void Print(ProbeSummary s, string outDir)
    {
        static string Pct(FoldStatistic? x) => x is null ? "" : $"{100 * x.Mean:0.0} ± {100 * x.Std:0.0}";
        var ks = s.Options.Classifiers.Ks;
        var table = new Table().Title($"probe: {s.Videos} videos, {s.Classes.Count} classes (chance {s.Chance:P1}); {s.Protocol}")
            .AddColumn("features").AddColumn(new TableColumn("dim").RightAligned());
        if (s.Options.Classifiers.Linear is not null) table.AddColumn(new TableColumn("logistic %").RightAligned());
        foreach (var k in ks) table.AddColumn(new TableColumn($"kNN k={k} %").RightAligned());
        table.AddColumn(new TableColumn($"class R@1/5/10 % ({s.RetrievalVideos})").RightAligned());
        foreach (var f in s.Families)
        {
            var cells = new List<string> { Markup.Escape(f.Name), f.Dimensions.ToString(CultureInfo.InvariantCulture) };
            if (s.Options.Classifiers.Linear is not null) cells.Add(Pct(f.Linear));
            cells.AddRange(ks.Select(k => Pct(f.Knn[k.ToString(CultureInfo.InvariantCulture)])));
            cells.Add(f.ClassRetrieval is { } cr ? $"{100 * cr.R1:0.0} / {100 * cr.R5:0.0} / {100 * cr.R10:0.0}" : "");
            table.AddRow(cells.ToArray());
        }
        AnsiConsole.Write(table);
        Console.WriteLine("accuracy: mean ± std over the folds; class R@K: a video of the query's class among its K nearest by cosine (leave-one-out).");
        if (s.CppRetrieval is { } cpp)
        {
            static string Line(double r1, double r5, double r10, double medianRank) =>
                FormattableString.Invariant($"R@1 {100 * r1:0.0}%  R@5 {100 * r5:0.0}%  R@10 {100 * r10:0.0}%  median rank {medianRank:0.#}");
            var (av, va) = (cpp.AudioToVideo, cpp.VideoToAudio);
            Console.WriteLine($"correct-pair head, {cpp.Videos} test videos (chance R@1 {100.0 / cpp.Videos:0.0}%): " +
                              $"audio→video {Line(av.R1, av.R5, av.R10, av.MedianRank)}; video→audio {Line(va.R1, va.R5, va.R10, va.MedianRank)}");
        }
        foreach (var note in s.Notes) Console.WriteLine("note: " + note);
        Console.WriteLine(FormattableString.Invariant(
            $"probe: {s.Seconds:0.0} s (loading {s.LoadSeconds:0.0} s, classifiers {s.ClassifierSeconds:0.0} s, retrieval {s.RetrievalSeconds:0.0} s); wrote {Path.Combine(outDir, ProbeSummary.JsonFile)}, {Path.Combine(outDir, ProbeSummary.PlotFile)}"));
    }
}
