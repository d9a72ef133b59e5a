using AvBert.Config;
using AvBert.Data;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runs;
using AvBert.Runtime;
using AvBert.Storage;
using AvBert.Tests.Training;
using AvBert.Training;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Tests.Pretraining;

/// <summary>Pretraining and feature export of the single-modality models (V-BERT / A-BERT): MEP on the one stream, no CPP.</summary>
[Collection(TorchRngCollection.Name)]
public class SingleStreamPretrainingTests
{
    static AvBertConfig Only(string stream, params string[] sets) =>
        PretrainerTests.Tiny([$"model.modalities={stream}", "model.fusion=late", .. sets]);

    [Theory]
    [InlineData("visual")]
    [InlineData("audio")]
    public void The_objective_is_mep_on_the_one_stream_without_cpp(string stream)
    {
        manual_seed(5);
        var c = Only(stream);
        using var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        Assert.Null(p.CppHead);
        Assert.Equal([stream == "visual" ? MepStream.Visual : MepStream.Audio], p.Streams);
        var other = stream == "visual" ? "audio" : "visual";
        Assert.DoesNotContain(p.named_parameters(), kv => kv.name.StartsWith($"{other}_mask") || kv.name.StartsWith("cpp_head"));

        var d = c.Data;
        var l = stream == "visual"
            ? p.forward(randn([4, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]), null)
            : p.forward(null, randn([4, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime]));
        Assert.Equal(new[] { "acc_mep_" + stream, "loss", "loss_mep", "loss_mep_" + stream, "neg_own_video_" + stream }, l.Parts.Keys.Order());
        Assert.Equal(l.Parts["loss_mep_" + stream].item<float>(), l.Total.item<float>());
        Assert.True(float.IsFinite(l.Total.item<float>()));
        l.Total.backward();   // the CNN learns through the targets and the Transformer input
        var cnn = p.named_parameters().First(kv => kv.name.Contains($"{stream}_cnn")).parameter;
        Assert.True(cnn.grad is not null && cnn.grad.abs().sum().item<float>() > 0);
    }

    [Theory]
    [InlineData("pretrain.cpp_fraction=0.25", "pretrain.cpp_fraction")]
    [InlineData("pretrain.cpp_pooling=mean", "pretrain.cpp_pooling")]
    [InlineData("pretrain.cpp_masked=false", "pretrain.cpp_masked")]
    [InlineData("pretrain.cpp_extra_pairs=3", "pretrain.cpp_extra_pairs")]
    [InlineData("pretrain.cpp_weight=2", "pretrain.cpp_weight")]
    [InlineData("pretrain.mep_streams=[audio, multimodal]", "pretrain.mep_streams")]
    public void Options_that_need_both_streams_are_refused_only_when_set(string set, string key)
    {
        // Defaults (CPP on, every MEP stream) mean "what the model has"; cpp_fraction 0 and mep_streams [audio] agree with it.
        PretrainRun.Checked(Only("audio"));
        PretrainRun.Checked(Only("audio", "pretrain.cpp_fraction=0", "pretrain.mep_streams=[audio]"));
        PretrainRun.Checked(PretrainerTests.Tiny(set)); // an audio-visual model takes them

        var e = Assert.Throws<ConfigError>(() => PretrainRun.Checked(Only("audio", set)));
        Assert.StartsWith($"config: {key} = ", e.Message);
        Assert.Contains("model.modalities is audio", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Theory]
    [InlineData("audio")]
    [InlineData("visual")]
    public void Pretrain_runs_on_files_of_the_one_stream_and_checkpoints(string stream)
    {
        // Audio-only: WAV files (no video to decode); visual-only: silent videos (no audio to decode). Either would be
        // skipped if the loader decoded the other stream.
        var media = TestSetup.TempDir($"single-pretrain-{stream}");
        for (int i = 0; i < 3; i++)
            TestMedia.Make(media, $"f{i}", stream == "audio"
                ? new TestMediaSpec { Seconds = 2.5, Video = false, Extension = "wav", AudioCodec = null, ToneHz = 300 + 200 * i }
                : new TestMediaSpec { Seconds = 2.5, Width = 64, Height = 48, Audio = false });
        var run = Path.Combine(TestSetup.TempDir($"single-pretrain-run-{stream}"), "run");
        string[] sets = ["pretrain.batch_size=3", "pretrain.steps=2", "pretrain.warmup_steps=1", "pretrain.checkpoint_every=1", "pretrain.log_every=1"];

        PretrainSummary Go(bool resume, params string[] extra)
        {
            var cfg = PretrainRun.PrepareRunDirectory(run, () => Only(stream, [.. sets, .. extra]), resume, extra);
            var skipped = new SkippedLog(run, TextWriter.Null, resume);
            var dataset = DataSpec.OpenClips(media, cfg, skipped);
            return PretrainRun.Run(cfg, dataset,
                new PretrainRunOptions { RunDir = run, Resume = resume, Workers = 1, Progress = ProgressMode.Off, Log = TextWriter.Null }, skipped);
        }

        var first = Go(resume: false);
        Assert.Equal(2, first.Steps);
        Assert.Equal(0, first.SkippedFiles);
        Assert.True(double.IsFinite(first.LastValues["loss"]));
        Assert.True(first.LastValues.ContainsKey("loss_mep_" + stream));
        Assert.DoesNotContain(first.LastValues.Keys, k => k.Contains("cpp") || k.Contains("multimodal"));
        var weights = SafetensorsFile.ReadAll(Path.Combine(run, "model", "weights.safetensors"));
        var other = stream == "visual" ? "audio" : "visual";
        Assert.Contains(weights.Keys, k => k.StartsWith($"{stream}_cnn."));
        Assert.DoesNotContain(weights.Keys, k => k.StartsWith($"{other}_"));

        // A --resume that sets an option the one-stream model refuses stops before config.yaml is rewritten.
        var configPath = Path.Combine(run, RunFolder.ConfigFile);
        var before = File.ReadAllText(configPath);
        var refused = Assert.Throws<ConfigError>(() => PretrainRun.PrepareRunDirectory(run, () => Only(stream), resume: true, ["pretrain.cpp_weight=2"]));
        Assert.StartsWith("config: pretrain.cpp_weight = ", refused.Message);
        Assert.Equal(before, File.ReadAllText(configPath));

        var second = Go(resume: true, "pretrain.steps=3");
        Assert.Equal(3, second.Steps);
        Assert.Equal([1L, 2, 3], MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Select(r => r.Step));
    }

    [Fact]
    public void Extract_with_a_visual_model_writes_the_visual_stream_with_its_transformer()
    {
        var media = TestSetup.TempDir("single-extract-media");
        for (int i = 0; i < 2; i++) TestMedia.Make(media, $"v{i}", new TestMediaSpec { Seconds = 2, Width = 64, Height = 48, Audio = false });
        var cfg = Only("visual");
        manual_seed(4);
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        var outDir = TestSetup.TempDir("single-extract-out");
        var files = FeatureExport.Run(model, cfg, SourceLoader.Open(media, "all"), outDir, CPU);
        Assert.Equal(2, files.Count);
        Assert.Equal(["clip_positions", "visual_embeddings", "visual_pooled", "visual_transformer"], files[0].Tensors);
        var f = SafetensorsFile.ReadAll(files[0].Features);
        int t = cfg.Data.SequenceLength;
        Assert.Equal(new long[] { t + 1, cfg.Model.Transformer.HiddenSize }, f["visual_transformer"].shape);
        Assert.Equal(new long[] { t, model.VisualFeatureDim }, f["visual_pooled"].shape);

        // A visual model has nothing to read in audio files: one line, not a crash.
        var wavs = TestSetup.TempDir("single-extract-wav");
        TestMedia.Make(wavs, "a", new TestMediaSpec { Seconds = 2, Video = false, Extension = "wav", AudioCodec = null });
        var e = Assert.Throws<AvBert.Runtime.UserError>(() =>
            FeatureExport.Run(model, cfg, SourceLoader.Open(wavs, "all") with { AudioOnly = true }, TestSetup.TempDir("x"), CPU));
        Assert.Contains("only the visual stream", e.Message);
    }
}
