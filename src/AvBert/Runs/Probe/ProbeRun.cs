using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream.Probing;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Storage;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>
/// `avbert probe`: judge frozen features in seconds. On every feature family (<see cref="FeatureFamilies"/>) a
/// logistic-regression probe (<see cref="LinearProbe"/>, the demo's) and a cosine k-nearest-neighbour classifier
/// (<see cref="KnnClassifier"/>), on the source's own train/test split, else its folds, else a stratified k-fold
/// (<see cref="FoldSplits"/>); class retrieval by cosine (leave-one-out over the test videos); and, given a pretrain run,
/// audio↔video retrieval through its correct-pair head (<see cref="CppRetrieval"/>). Writes DIR/probe.json and DIR/probe.png.
/// </summary>
public static class ProbeRun
{
    /// <summary>Labelled per-video features, whatever they were read from.</summary>
    internal sealed record LabelledFeatures(string Source, FeatureFamilies Families, int[] Labels, IReadOnlyList<string> ClassNames, string?[] Splits,
                                   int?[] Folds, Tensor? VisualEmbeddings, Tensor? AudioEmbeddings, List<string> Notes) : IDisposable
    {
        public void Dispose()
        {
            Families.Dispose();
            VisualEmbeddings?.Dispose();
            AudioEmbeddings?.Dispose();
        }
    }

    public static ProbeSummary Run(ProbeOptions o, CancellationToken ct = default)
    {
        var log = o.Log ?? Console.Out;
        var clock = Stopwatch.StartNew();
        var device = o.Device ?? CPU;
        if ((o.Features is null) == (o.Data is null))
            throw new UserError("probe: give either --features DIR (the output of `avbert extract --data SRC`) or --model MODEL --data SRC (not both, not neither).");
        if (o.Data is not null && o.Model is null)
            throw new UserError($"probe --data {o.Data}: the features need a model. Fix: add --model MODEL, or run `avbert extract` and give --features DIR.");
        var outDir = o.OutDir ?? o.Features
            ?? throw new UserError("probe --model --data: say where probe.json goes with --out DIR (only --features has a default: its folder).");
        CheckOptions(o);

        // The model, and (a pretrain run folder) its correct-pair head.
        AvBertConfig? config = null;
        AvBertModel? model = null;
        AvBertPretrainer? heads = null;
        var notes = new List<string>();
        try
        {
            if (o.Model is not null)
            {
                var dir = ModelDirectory.Resolve(o.Model);
                (config, model) = ModelDirectory.Load(dir, device);
                heads = HeadsOf(config, dir, device);
                if (heads?.CppHead is null)
                    notes.Add($"no audio↔video retrieval: {o.Model} holds no correct-pair head (a pretrain run folder with checkpoints does, and pretrain.cpp_fraction > 0).");
            }
            using var features = o.Features is not null
                ? ReadExtracted(o.Features, notes, ct)
                : ExtractInMemory(o, config!, model!, keepEmbeddings: heads?.CppHead is not null, log, notes, ct);
            double loadSeconds = clock.Elapsed.TotalSeconds;
            var summary = Evaluate(features, o, model, heads, device, loadSeconds, clock, ct);
            Write(summary, outDir);
            return summary;
        }
        finally
        {
            heads?.Dispose();
            model?.Dispose();
        }
    }

    static void CheckOptions(ProbeOptions o)
    {
        if (o.Folds < 2) throw new UserError($"probe --folds {o.Folds}: a k-fold needs at least 2 folds (default 5).");
        if (o.Repeats < 1) throw new UserError($"probe --repeats {o.Repeats}: must be at least 1.");
        if (o.Classifiers.Ks.Any(k => k < 1)) throw new UserError($"probe --k {string.Join(",", o.Classifiers.Ks)}: every k must be at least 1 (e.g. --k 1,10,20).");
        if (o.Classifiers.Linear is null && o.Classifiers.Ks.Count == 0) throw new UserError("probe: no classifier (--no-linear and no --k). Fix: keep one.");
        if (o.CppVideos < 0) throw new UserError($"probe --cpp-videos {o.CppVideos}: must be >= 0 (0 skips audio↔video retrieval).");
    }

    /// <summary>The CPP head of the pretrain run a resolved model directory belongs to (RUN/model → RUN/checkpoints), else null.</summary>
    static AvBertPretrainer? HeadsOf(AvBertConfig config, string modelDir, Device device)
    {
        var full = Path.GetFullPath(modelDir).TrimEnd('/');
        if (Path.GetFileName(full) != PretrainRun.ModelDir || config.Model.Modalities != Modalities.AudioVisual) return null;
        return PretrainRun.LoadHeads(config, Path.GetDirectoryName(full)!, device);
    }

    // ---- the features ----

    /// <summary>DIR/index.tsv and the .safetensors it lists (`avbert extract`), stacked per tensor name and pooled.</summary>
    static LabelledFeatures ReadExtracted(string dir, List<string> notes, CancellationToken ct)
    {
        if (!Directory.Exists(dir)) throw new UserError($"probe --features {dir}: folder not found. Fix: give the --out folder of `avbert extract`.");
        var indexPath = Path.Combine(dir, FeatureExport.IndexFile);
        if (!File.Exists(indexPath))
            throw new UserError($"probe --features {dir}: no {FeatureExport.IndexFile} (not the output of `avbert extract`). Fix: run `avbert extract --model M --data SRC --out {dir}`.");
        var lines = File.ReadAllLines(indexPath).Where(l => l.Length > 0).ToArray();
        var header = lines.FirstOrDefault()?.Split('\t') ?? [];
        int Column(string name) => Array.IndexOf(header, name);
        int features = Column("features"), labels = Column("labels"), split = Column("split"), fold = Column("fold");
        if (features < 0) throw new UserError($"{indexPath}: no 'features' column in the header. Fix: write it again with `avbert extract`.");
        var rows = lines.Skip(1).Select(l => l.Split('\t')).ToArray();
        if (rows.Length == 0) throw new UserError($"{indexPath}: lists no videos.");
        string Cell(string[] row, int c) => c >= 0 && c < row.Length ? row[c].Trim() : "";
        int unlabelled = rows.Count(r => Cell(r, labels).Length == 0);
        if (unlabelled > 0)
            throw new UserError($"probe --features {dir}: {unlabelled} of {rows.Length} videos have no labels in {FeatureExport.IndexFile} (extracted from files or an unlabelled source). " +
                                "Fix: extract from a labelled source, e.g. `avbert extract --model M --data classes:DIR --out DIR`.");
        var firstLabels = rows.Select(r => Cell(r, labels).Split(';')[0]).ToArray();
        int multi = rows.Count(r => Cell(r, labels).Contains(';'));
        if (multi > 0) notes.Add($"{multi} videos have several labels: each is probed with its first.");
        var classNames = firstLabels.Distinct().Order(StringComparer.Ordinal).ToList();

        var paths = rows.Select(r => Path.Combine(dir, Cell(r, features))).ToArray();
        for (int i = 0; i < paths.Length; i++)
            if (!File.Exists(paths[i])) throw new UserError($"{indexPath}:{i + 2}: {paths[i]} not found. Fix: keep the extract folder whole, or extract again.");
        var files = new Dictionary<string, Tensor>[paths.Length];
        var stacked = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
        try
        {
            try
            {
                Parallel.For(0, paths.Length, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount), CancellationToken = ct },
                             i => files[i] = SafetensorsFile.ReadAll(paths[i]));
            }
            catch (AggregateException e) when (e.InnerExceptions.OfType<UserError>().FirstOrDefault() is { } first) { throw first; }
            for (int i = 0; i < files.Length; i++)
            {
                if (i > 0 && !files[i].Keys.Order().SequenceEqual(stacked.Keys.Order()))
                    throw new UserError($"{paths[i]}: holds {string.Join(", ", files[i].Keys.Order())}, other videos {string.Join(", ", stacked.Keys.Order())}: not one extract. Fix: extract again into an empty folder.");
                foreach (var (name, t) in files[i]) (stacked.TryGetValue(name, out var list) ? list : stacked[name] = []).Add(t);
            }
            var byName = stacked.ToDictionary(kv => kv.Key, kv => Stack(kv.Key, kv.Value, dir), StringComparer.Ordinal);
            try
            {
                var families = FeatureFamilies.FromExtracted(byName);
                if (families.All.Count == 0)
                    throw new UserError($"probe --features {dir}: no pooled features in the files (visual_pooled, audio_pooled, ...). Fix: extract again with `avbert extract`.");
                Tensor? Keep(string name) => byName.Remove(name, out var t) ? t : null;
                return new LabelledFeatures(dir, families, firstLabels.Select(l => classNames.IndexOf(l)).ToArray(), classNames,
                    rows.Select(r => Cell(r, split) is "train" or "test" ? Cell(r, split) : null).ToArray(),
                    rows.Select(r => int.TryParse(Cell(r, fold), NumberStyles.Integer, CultureInfo.InvariantCulture, out var f) ? f : (int?)null).ToArray(),
                    Keep("visual_embeddings"), Keep("audio_embeddings"), notes);
            }
            finally
            {
                foreach (var t in byName.Values) t.Dispose();
            }
        }
        finally
        {
            foreach (var t in files.Where(x => x is not null).SelectMany(x => x.Values)) t.Dispose();
        }
    }

    static Tensor Stack(string name, List<Tensor> tensors, string dir)
    {
        var shapes = tensors.Select(t => string.Join("x", t.shape)).Distinct().ToList();
        if (shapes.Count > 1)
            throw new UserError($"probe --features {dir}: '{name}' has different shapes across videos ({string.Join(", ", shapes.Take(3))}): not one extract. Fix: extract again into an empty folder.");
        return stack(tensors, 0);
    }

    /// <summary>`extract` in memory over the whole source (<see cref="Extract"/>); each video keeps the split the source lists it in.</summary>
    static LabelledFeatures ExtractInMemory(ProbeOptions o, AvBertConfig config, AvBertModel model, bool keepEmbeddings, TextWriter log,
                                            List<string> notes, CancellationToken ct)
    {
        if (config.Model.Modalities != Modalities.AudioVisual)
            throw new UserError($"probe --model {o.Model}: a single-modality model ({config.Model.Modalities}). Fix: `avbert extract --model {o.Model} --data {o.Data} --out DIR`, then `avbert probe --features DIR`.");
        var skipped = new SkippedLog(null, log);
        var source = DataSpec.OpenWithSplits(o.Data!, config.Data, labeled: true, skipped, log);
        if (!source.Labeled)
            throw new UserError($"probe --data {o.Data}: the source has no labels. Fix: a labelled source (classes:DIR, toy-av:N, ucf101:ROOT, csv:FILE with a label column, ...).");
        if (source.AudioOnly)
            throw new UserError($"probe --data {o.Data}: audio files only; the audio-visual model needs video. Fix: `avbert extract --model {o.Model} --data {o.Data} --out DIR` (audio CNN features), then `avbert probe --features DIR`.");
        if (source.Items.Count == 0) throw new UserError($"probe --data {o.Data}: no videos.");
        log.WriteLine($"probe: extracting {source.Items.Count} videos of {source.Name} ({config.Data.SequenceLength} clips each, centre crop) on {o.Device ?? CPU}");
        return Extract(model, config, source, o.Data!, $"probe --data {o.Data}", keepEmbeddings, o.BatchSize, o.Workers, o.Device ?? CPU, skipped, notes, ct);
    }

    /// <summary>
    /// Labelled features of every video of a labelled audio-visual <paramref name="source"/> (items with
    /// <see cref="MediaItem.Split"/> as <see cref="DataSpec.OpenWithSplits"/> sets it): one centre-crop view of
    /// data.sequence_length clips per video (<see cref="Batches"/>) through <see cref="FrozenFeatures.Extract"/> — `probe
    /// --model --data` and `demo --data`. <paramref name="spec"/> is recorded as the features' source; <paramref name="what"/>
    /// opens the error messages (e.g. "probe --data SRC").
    /// </summary>
    internal static LabelledFeatures Extract(AvBertModel model, AvBertConfig config, MediaSource source, string spec, string what, bool keepEmbeddings,
                                             int batchSize, int workers, Device device, SkippedLog skipped, List<string> notes, CancellationToken ct)
    {
        using var set = FrozenFeatures.Extract(model, Batches(source, config.Data, batchSize, workers, device, skipped, ct), device, keepEmbeddings);
        if (skipped.Count > 0) notes.Add(skipped.Summary());
        var items = set.Labels.data<long>().Select(i => source.Items[(int)i]).ToArray();
        var labels = items.Select(i => i.Labels.Length > 0 ? i.Labels[0] : -1).ToArray();
        if (labels.Any(l => l < 0)) throw new UserError($"{what}: {labels.Count(l => l < 0)} videos have no label. Fix: label every video of the source.");
        if (items.Any(i => i.Labels.Length > 1)) notes.Add($"{items.Count(i => i.Labels.Length > 1)} videos have several labels: each is probed with its first.");
        return new LabelledFeatures(spec, FeatureFamilies.From(set, TransformerSharing.TransformersOf(config.Model)), labels, source.ClassNames,
            items.Select(i => i.Split).ToArray(), items.Select(i => i.Fold).ToArray(),
            set.VisualEmbeddings?.clone(), set.AudioEmbeddings?.clone(), notes);
    }

    /// <summary>The videos of <paramref name="source"/> in its order as the model reads them at test time (one centre-crop
    /// view, no augmentation; float pixels, normalised, on <paramref name="device"/>), decoded by the data loader with
    /// <paramref name="workers"/> threads; "labels": each video's index in the source. A file that fails to load is skipped
    /// (<paramref name="skipped"/>). The tensors are disposed when the enumeration moves on.</summary>
    internal static IEnumerable<(Tensor Visual, Tensor Audio, Tensor Items)> Batches(MediaSource source, DataConfig data, int batchSize, int workers,
                                                                                  Device device, SkippedLog skipped, CancellationToken ct)
    {
        var dataset = new VideoSequenceDataset(source, data,
            new SequenceOptions { Mode = SampleMode.Test, Modalities = Modalities.AudioVisual, ViewsPerVideo = 1, SpatialCrops = 1 });
        var loader = new BatchLoader(dataset, new LoaderOptions { BatchSize = Math.Max(1, batchSize), Shuffle = false, Workers = workers }, skipped);
        foreach (var batch in loader.Epoch(0, 0, ct))
        {
            using (batch)
            {
                var (visual, audio) = batch.ToDevice(device);
                using (visual)
                using (audio)
                using (var items = tensor(batch.ItemIndices.Select(i => (long)i).ToArray()))
                    yield return (visual!, audio!, items);
            }
        }
    }

    // ---- the evaluation ----

    internal static ProbeSummary Evaluate(LabelledFeatures f, ProbeOptions o, AvBertModel? model, AvBertPretrainer? heads, Device device, double loadSeconds,
                                 Stopwatch clock, CancellationToken ct)
    {
        int n = f.Labels.Length;
        var present = f.Labels.Distinct().Order().ToList();
        if (present.Count < 2)
            throw new UserError($"probe {f.Source}: every video has the class '{f.ClassNames[f.Labels[0]]}': a classifier needs at least two classes.");
        var (folds, protocol, testItems) = Divisions(f, o);
        var ks = o.Classifiers.Ks;
        foreach (var fold in folds)
        {
            if (ks.Count > 0 && ks.Max() > fold.Train.Length)
                throw new UserError($"probe: k {ks.Max()} is larger than the {fold.Train.Length} training videos of {fold.Name} ({protocol}). Fix: --k {string.Join(",", ks.Where(k => k <= fold.Train.Length).DefaultIfEmpty(1))}.");
            if (fold.Test.Length == 0) throw new UserError($"probe: {fold.Name} of {protocol} has no test videos. Fix: fewer --folds, or --kfold.");
        }

        using var labels = tensor(f.Labels.Select(l => (long)l).ToArray());
        var perFamily = new List<FamilyProbe>();
        var classifierClock = Stopwatch.StartNew();
        var scores = ScoreAll(f, folds, labels, o.Classifiers, ct);                        // [fold, family]
        double classifierSeconds = classifierClock.Elapsed.TotalSeconds;

        var retrievalClock = Stopwatch.StartNew();
        using var testIndex = tensor(testItems.Select(i => (long)i).ToArray());
        using var testLabels = labels.index_select(0, testIndex);
        for (int m = 0; m < f.Families.All.Count; m++)
        {
            var family = f.Families.All[m];
            ClassRecall? recall = null;
            if (testItems.Length >= 2)
            {
                using var x = family.Features.index_select(0, testIndex);
                recall = Retrieval.ByClass(x, testLabels, o.Classifiers.Standardise);
            }
            var perFold = scores.Select(fold => fold[m]).ToList();
            perFamily.Add(new FamilyProbe(family.Name, (int)family.Features.shape[1],
                o.Classifiers.Linear is null ? null : FoldStatistic.Of(perFold.Select(s => s.Linear!.Value).ToList()),
                ks.Select((k, j) => (k, j)).ToDictionary(x => x.k.ToString(CultureInfo.InvariantCulture), x => FoldStatistic.Of(perFold.Select(s => s.Knn[x.j]).ToList())),
                recall));
        }
        var cpp = CppPairs(f, testItems, o, model, heads, device, ct);
        double retrievalSeconds = retrievalClock.Elapsed.TotalSeconds;

        return new ProbeSummary(f.Source, o.Model, n, f.ClassNames, 1.0 / f.ClassNames.Count, protocol, folds.Select(x => x.Name).ToList(),
                                testItems.Length, perFamily, cpp, o, f.Notes, loadSeconds, classifierSeconds, retrievalSeconds, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The classifiers on every (fold, family) pair, family by family (<see cref="FeatureClassifiers.ScoreFolds"/>: the
    /// linear probes of a family's folds are one batched fit): <see cref="Environment.ProcessorCount"/> families at a time
    /// with one torch thread each, the widest first (so that the last to start are the quickest) — on 2 loaded cores that
    /// beat one family at a time with 2 threads in its matrix products (docs/downstream.md) — or, with fewer families than
    /// cores, one at a time with every core's threads. Each result depends only on its data (not on the order or the thread).
    /// </summary>
    static FoldAccuracy[][] ScoreAll(LabelledFeatures f, IReadOnlyList<ProbeFold> folds, Tensor labels, ClassifierOptions options, CancellationToken ct)
    {
        var families = f.Families.All;
        var result = folds.Select(_ => new FoldAccuracy[families.Count]).ToArray();
        var widestFirst = Enumerable.Range(0, families.Count).OrderByDescending(m => families[m].Features.shape[1]).ThenBy(m => m).ToList();
        void Family(int m)
        {
            var scores = FeatureClassifiers.ScoreFolds(families[m].Features, labels, folds, f.ClassNames.Count, options);
            for (int k = 0; k < folds.Count; k++) result[k][m] = scores[k];
        }
        int cores = Math.Max(1, Environment.ProcessorCount), threads = get_num_threads();
        bool inParallel = families.Count >= cores && cores > 1;
        set_num_threads(inParallel ? 1 : cores);
        try
        {
            if (inParallel)
                Parallel.ForEach(Partitioner.Create(widestFirst, EnumerablePartitionerOptions.NoBuffering),
                                 new ParallelOptions { MaxDegreeOfParallelism = cores, CancellationToken = ct }, Family);
            else
                foreach (var m in widestFirst)
                {
                    ct.ThrowIfCancellationRequested();
                    Family(m);
                }
        }
        finally
        {
            set_num_threads(threads);
        }
        return result;
    }

    /// <summary>The train/test divisions, in words, and the videos retrieval runs over (the test split; every video otherwise).</summary>
    static (IReadOnlyList<ProbeFold> Folds, string Protocol, int[] TestItems) Divisions(LabelledFeatures f, ProbeOptions o)
    {
        int n = f.Labels.Length;
        if (!o.KFold)
        {
            var own = FoldSplits.TrainTest(f.Splits);
            if (own.Train.Length > 0 && own.Test.Length > 0)
                return ([own], $"the source's train/test split ({own.Train.Length} train, {own.Test.Length} test videos)", own.Test);
            var sourceFolds = f.Folds.Where(x => x is not null).Distinct().Count();
            if (sourceFolds >= 2)
                return (FoldSplits.LeaveOneFoldOut(f.Folds), $"the source's {sourceFolds} folds, each held out in turn", Enumerable.Range(0, n).ToArray());
        }
        if (o.Folds > n) throw new UserError($"probe --folds {o.Folds}: more folds than the {n} videos. Fix: --folds {Math.Max(2, Math.Min(5, n))}.");
        var folds = FoldSplits.KFold(f.Labels, o.Folds, o.Repeats, o.Seed);
        return (folds, $"stratified {o.Folds}-fold{(o.Repeats > 1 ? $" × {o.Repeats} repeats" : "")} (seed {o.Seed}) over all {n} videos",
                Enumerable.Range(0, n).ToArray());
    }

    /// <summary>Audio→video and video→audio through the correct-pair head among the first <see cref="ProbeOptions.CppVideos"/> test videos.</summary>
    static CppRetrievalResult? CppPairs(LabelledFeatures f, int[] testItems, ProbeOptions o, AvBertModel? model, AvBertPretrainer? heads, Device device,
                                        CancellationToken ct)
    {
        if (model is null || heads?.CppHead is not { } head || o.CppVideos < 2) return null;
        if (f.VisualEmbeddings is null || f.AudioEmbeddings is null)
        {
            f.Notes.Add("no audio↔video retrieval: the features hold no visual_embeddings and audio_embeddings (extract with an audio-visual model).");
            return null;
        }
        long d = model.Config.Transformer.HiddenSize;
        if (f.VisualEmbeddings.shape[^1] != d || f.AudioEmbeddings.shape[^1] != d)
            throw new UserError($"probe --model {o.Model}: the features' embeddings have {f.VisualEmbeddings.shape[^1]} dimensions, the model's Transformers {d}: " +
                                "they were extracted with another model. Fix: give the model they were extracted with, or extract again.");
        int n = Math.Min(o.CppVideos, testItems.Length);
        if (n < 2) return null;
        using var index = tensor(testItems.Take(n).Select(i => (long)i).ToArray());
        using var xv = f.VisualEmbeddings.index_select(0, index).to(device);
        using var xa = f.AudioEmbeddings.index_select(0, index).to(device);
        using var scores = CppRetrieval.Scores(model, head, heads.CppPooling, xv, xa, ct);   // [audio, video]
        using var transposed = scores.t();
        return new CppRetrievalResult(n, Retrieval.Pairs(scores), Retrieval.Pairs(transposed));
    }

    // ---- the output ----

    static void Write(ProbeSummary s, string outDir)
    {
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, ProbeSummary.JsonFile), JsonSerializer.Serialize(s, ProbeSummary.Json) + "\n");
        var groups = s.Families.Select(f => f.Name.Replace("+", "+\n")).ToList();
        var series = new List<(string, double[])>();
        if (s.Families.All(f => f.Linear is not null)) series.Add(("logistic regression", s.Families.Select(f => f.Linear!.Mean).ToArray()));
        foreach (var k in s.Options.Classifiers.Ks)
            series.Add(($"kNN k={k}", s.Families.Select(f => f.Knn[k.ToString(CultureInfo.InvariantCulture)].Mean).ToArray()));
        ProbePlots.SaveBars(Path.Combine(outDir, ProbeSummary.PlotFile), $"probe: {s.Videos} videos, {s.Classes.Count} classes — {s.Protocol}",
                            groups, series, s.Chance, width: Math.Max(900, 150 * groups.Count), yLabel: "accuracy, mean over folds (%)");
    }
}
