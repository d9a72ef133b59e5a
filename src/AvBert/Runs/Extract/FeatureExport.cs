using System.Text;
using AvBert.Config;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using AvBert.Storage;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Runs;

/// <summary>One exported video.</summary>
public sealed record ExportedFile(string Source, string Features, IReadOnlyList<string> Tensors);

/// <summary>
/// `avbert extract`: per video, one safetensors file with the features researchers feed to other benchmarks, from one
/// test view (data.sequence_length clips at uniform positions, centre crop, no augmentation):
/// <c>visual_pooled</c> [T, Cv] and <c>audio_pooled</c> [T, Ca] (pooled CNN features, before the projection),
/// <c>visual_embeddings</c>/<c>audio_embeddings</c> [T, D] (x^v, x^a), <c>visual_transformer</c>/<c>audio_transformer</c>
/// [T+1, D] and <c>multimodal_transformer</c> [2(T+1), D] (position 0 = BOS; the ones the fusion mode has), and
/// <c>clip_positions</c> [T] (float64: clip t starts at position·(duration − clip span), SPEC §4). Audio-only sources give the
/// audio CNN features only (an audio-visual model's Transformers need both streams); a single-modality model gives its
/// stream's tensors, its Transformer's output included, and decodes only that stream. DIR/index.tsv lists
/// source path, features file, labels, split and fold (<see cref="IndexColumns"/>).
/// </summary>
public static class FeatureExport
{
    /// <summary>The videos `extract` exports: the items of <paramref name="split"/> of the data spec, or the given files
    /// (unlabeled); exactly one of the two.</summary>
    public static MediaSource Videos(string? spec, string split, IReadOnlyList<string> files, DataConfig data, SkippedLog skipped)
    {
        if ((files.Count == 0) == (spec is null))
            throw new UserError("extract: give either FILE... or --data SRC (not both, not neither).");
        MediaSource source;
        // All splits: each item keeps the split the source lists it in (index.tsv's split column, what `probe` evaluates on).
        if (spec is not null) source = split.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)
            ? DataSpec.OpenWithSplits(spec, data, labeled: false, skipped) : DataSpec.Open(spec, split, data, skipped);
        else
        {
            foreach (var p in files)
                if (!File.Exists(p)) throw new UserError($"extract: {p}: file not found.");
            source = new MediaSource("files", files.Select(p => new MediaItem(Path.GetFullPath(p), [])).ToList(), [], false);
        }
        if (source.Items.Count == 0) throw new UserError("extract: no videos to export.");
        return source;
    }

    public const string IndexFile = "index.tsv";

    public static IReadOnlyList<ExportedFile> Run(AvBertModel model, AvBertConfig config, MediaSource source, string outDir, Device device,
                                                  int batchSize = 4, int workers = 0, SkippedLog? skipped = null,
                                                  Action<int, int>? onProgress = null, CancellationToken ct = default,
                                                  InferenceRuntime runtime = InferenceRuntime.Libtorch)
    {
        var modalities = model.Config.Modalities & (source.AudioOnly ? Modalities.Audio : Modalities.AudioVisual);
        if (modalities == 0)
            throw new UserError($"extract: {source.Name} holds audio files only, but the model has only the visual stream (model.modalities: visual). " +
                                "Fix: give videos, or an audio or audio-visual model.");
        // The Transformers run when every stream the model has is decoded (not for an audio-visual model on audio files).
        bool contextualize = modalities == model.Config.Modalities;
        var dataset = new VideoSequenceDataset(source, config.Data,
            new SequenceOptions { Mode = SampleMode.Test, Modalities = modalities, ViewsPerVideo = 1, SpatialCrops = 1 });
        var loader = new BatchLoader(dataset, new LoaderOptions { BatchSize = batchSize, Shuffle = false, Workers = workers }, skipped);
        var positions = Features.ClipSampling.UniformPositions(dataset.ClipsPerSample);
        var names = OutputNames(source.Items.Select(i => i.Path).ToList());
        Directory.CreateDirectory(outDir);
        var exported = new List<ExportedFile>();
        model.eval();
        // --runtime onnx: the same tensors from ONNX Runtime (docs/export.md), the graph built for the decoded streams.
        using var onnx = runtime == InferenceRuntime.Onnx
            ? OnnxInference.ForFeatures(model, config, modalities, cuda: device.type == DeviceType.CUDA) : null;
        var torchStreams = onnx is null ? modalities : 0;
        using var _ = no_grad();
        int done = 0;
        foreach (var batch in loader.Epoch(0, 0, ct))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                var (visual, audio) = onnx is null ? batch.ToDevice(device) : batch.ToDevice(CPU);
                var tensors = onnx?.Features(visual, audio) ?? new Dictionary<string, Tensor>();
                Tensor? xv = null, xa = null;
                if (torchStreams.HasFlag(Modalities.Visual))
                {
                    var pooled = tensors["visual_pooled"] = model.PoolVisual(visual!);
                    xv = tensors["visual_embeddings"] = model.ProjectVisual(pooled);
                }
                if (torchStreams.HasFlag(Modalities.Audio))
                {
                    var pooled = tensors["audio_pooled"] = model.PoolAudio(audio!);
                    xa = tensors["audio_embeddings"] = model.ProjectAudio(pooled);
                }
                if (contextualize && onnx is null)
                {
                    var context = model.Contextualize(xv, xa);
                    if (context.Visual is { } v) tensors["visual_transformer"] = v;
                    if (context.Audio is { } a) tensors["audio_transformer"] = a;
                    if (context.Multimodal is { } m) tensors["multimodal_transformer"] = m;
                }
                for (int b = 0; b < batch.Count; b++)
                {
                    int item = batch.ItemIndices[b];
                    var sample = tensors.ToDictionary(kv => kv.Key, kv => kv.Value[b].cpu().contiguous());
                    sample["clip_positions"] = tensor(positions, dtype: float64);
                    var path = Path.Combine(outDir, names[item]);
                    SafetensorsFile.Write(path, sample);
                    exported.Add(new ExportedFile(source.Items[item].Path, path, sample.Keys.Order(StringComparer.Ordinal).ToList()));
                }
            }
            done += batch.Count;
            onProgress?.Invoke(done, dataset.Count);
        }
        WriteIndex(Path.Combine(outDir, IndexFile), exported, source);
        return exported;
    }

    /// <summary>
    /// Output names mirroring the inputs' paths below their deepest common folder, with .safetensors for the extension
    /// (collisions get a numeric suffix).
    /// </summary>
    public static string[] OutputNames(IReadOnlyList<string> paths)
    {
        var full = paths.Select(Path.GetFullPath).ToList();
        var root = full.Count == 0 ? "" : Path.GetDirectoryName(full[0])!;
        foreach (var p in full)
            while (root.Length > 0 && !p.StartsWith(root.TrimEnd('/') + "/", StringComparison.Ordinal))
                root = Path.GetDirectoryName(root) ?? "";
        var used = new HashSet<string>(StringComparer.Ordinal);
        return full.Select(p =>
        {
            var rel = root.Length > 0 ? Path.GetRelativePath(root, p) : Path.GetFileName(p);
            var stem = Path.ChangeExtension(rel, null);
            var name = stem + ".safetensors";
            for (int k = 2; !used.Add(name); k++) name = $"{stem}-{k}.safetensors";
            return name;
        }).ToArray();
    }

    /// <summary>The columns of DIR/index.tsv: the source file, the features file (relative to DIR), the labels (class
    /// names joined by ';', empty when unlabeled), the split the source lists the item in (train, test or empty: see
    /// <see cref="DataSpec.OpenWithSplits"/>) and the source's fold (ESC-50; empty when none).</summary>
    public static readonly string[] IndexColumns = ["source", "features", "labels", "split", "fold"];

    /// <summary>Writes DIR/index.tsv (<see cref="IndexColumns"/>) for <paramref name="files"/> of <paramref name="source"/>.</summary>
    public static void WriteIndex(string path, IReadOnlyList<ExportedFile> files, MediaSource source)
    {
        var items = source.Items.GroupBy(i => i.Path).ToDictionary(g => g.Key, g => g.First());
        string Labels(MediaItem? i) => i is null ? "" : string.Join(';', i.Labels.Select(l => source.ClassNames.Count > l ? source.ClassNames[l] : l.ToString()));
        var sb = new StringBuilder(string.Join('\t', IndexColumns)).Append('\n');
        foreach (var f in files)
        {
            var item = items.GetValueOrDefault(f.Source);
            sb.AppendJoin('\t', f.Source, Path.GetRelativePath(Path.GetDirectoryName(path)!, f.Features), Labels(item), item?.Split ?? "",
                          item?.Fold?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "").Append('\n');
        }
        AtomicFile.WriteAllText(path, sb.ToString());
    }
}
