using System.Text.Json;
using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Tests.Runs;
using AvBert.Training;
using AvBert.Runs;

namespace AvBert.Tests.Runs.Ablation;

/// <summary>`avbert ablate`: each table's rows make the configs they name; a tiny table end to end, kept on a rerun, stopped cleanly.</summary>
public class AblationTests
{
    static AblationOptions Options(string dir, params string[] sets) => new() { OutDir = dir, Sets = sets };

    [Fact]
    public void Sharing_rows_set_cross_layer_and_cross_transformer_sharing()
    {
        var o = Options("unused");
        var expect = new Dictionary<string, (bool CrossLayer, CrossTransformerSharing Across)>
        {
            ["none"] = (false, CrossTransformerSharing.None), ["cross-layer"] = (true, CrossTransformerSharing.None),
            ["cross-layer-all"] = (true, CrossTransformerSharing.All), ["cross-layer-partial"] = (true, CrossTransformerSharing.Partial),
            ["partial"] = (false, CrossTransformerSharing.Partial),
        };
        var rows = AblationTables.Rows(AblationTable.Sharing);
        Assert.Equal(expect.Keys, rows.Select(r => r.Key));
        foreach (var row in rows)
        {
            var t = AblationRun.CellConfig(o, row, seed: 2).Model.Transformer;
            Assert.Equal(expect[row.Key], (t.ShareAcrossLayers, t.ShareAcrossTransformers));
        }
    }

    [Fact]
    public void Sharing_rows_have_the_papers_parameter_counts_at_full_size_and_shrink_in_its_order()
    {
        // The paper's sizes (preset full): the Transformer counts of docs/SPEC.md §6, in the order of its table.
        var o = Options("unused") with { Preset = "full" };
        var count = AblationTables.Rows(AblationTable.Sharing).ToDictionary(r => r.Key, r => ParameterCounts.TransformerOf(AblationRun.CellConfig(o, r, 0).Model));
        Assert.Equal(127_581_696, count["none"]);
        Assert.Equal(21_263_616, count["cross-layer"]);
        Assert.Equal(7_087_872, count["cross-layer-all"]);
        Assert.Equal(3_843_840, count["cross-layer-partial"]);
        Assert.True(count["none"] > count["partial"] && count["partial"] > count["cross-layer-partial"], $"partial without cross-layer: {count["partial"]}");
        // The CPU preset of the toy-av tables keeps none > cross-layer > cross-layer + all / partial.
        var small = AblationTables.Rows(AblationTable.Sharing).ToDictionary(r => r.Key, r => ParameterCounts.TransformerOf(AblationRun.CellConfig(Options("unused"), r, 0).Model));
        Assert.True(small["none"] > small["cross-layer"] && small["cross-layer"] > small["cross-layer-all"] && small["cross-layer"] > small["cross-layer-partial"]);
    }

    [Fact]
    public void Negatives_and_fusion_rows_set_the_sampler_and_the_fusion_mode_over_the_users_settings()
    {
        // The user's --set of the same key does not win over a row: the table varies exactly that key.
        var o = Options("unused", "pretrain.sampler=cans_similar", "model.fusion=late");
        Assert.Equal([NegativeSampling.CansSimilar, NegativeSampling.CansDissimilar, NegativeSampling.CurrentSequence, NegativeSampling.CurrentMinibatch],
                     AblationTables.Rows(AblationTable.Negatives).Select(r => AblationRun.CellConfig(o, r, 0).Pretrain.Sampler));
        Assert.Equal([Fusion.Early, Fusion.Mid, Fusion.Late], AblationTables.Rows(AblationTable.Fusion).Select(r => AblationRun.CellConfig(o, r, 0).Model.Fusion));
        // Everything else: the toy-av pretraining settings (the demo's), the default steps, the seed; --steps wins.
        var c = AblationRun.CellConfig(o, AblationTables.Rows(AblationTable.Fusion)[0], seed: 4);
        Assert.Equal(Fusion.Early, c.Model.Fusion);
        Assert.Equal(NegativeSampling.CansSimilar, c.Pretrain.Sampler);      // not a fusion-table key: the user's value
        Assert.Equal(4, c.Pretrain.Seed);
        Assert.Equal(AblationOptions.DefaultSteps, c.Pretrain.Steps);
        Assert.Equal(MepScore.Cosine, c.Pretrain.MepScore);
        Assert.Equal(AblationOptions.CheckpointEvery, c.Pretrain.CheckpointEvery);
        Assert.Equal(77, AblationRun.CellConfig(o with { Steps = 77 }, AblationTables.Rows(AblationTable.Fusion)[0], 0).Pretrain.Steps);
        Assert.Equal(128, c.Model.Transformer.HiddenSize);                     // preset small by default
    }

    [Fact]
    public void Table_names_and_rows_are_checked()
    {
        Assert.Equal([AblationTable.Sharing, AblationTable.Negatives, AblationTable.Fusion], AblationTables.Parse("all"));
        Assert.Equal([AblationTable.Fusion], AblationTables.Parse("Fusion"));
        var e = Assert.Throws<UserError>(() => AblationTables.Parse("sideways"));
        Assert.Contains("sharing, negatives, fusion, all", e.Message);
        var r = Assert.Throws<UserError>(() => AblationTables.Select([AblationTable.Fusion], ["mid", "none"]));
        Assert.Contains("'none'", r.Message);
        Assert.Equal(["early", "late"], AblationTables.Select([AblationTable.Fusion], ["late", "early"]).Select(x => x.Row.Key));
        // A bad setting stops before anything is written (so the fixed command can start in the same folder).
        var dir = Path.Combine(TestSetup.TempDir("ablate-bad"), "out");
        Assert.Contains("pretrain.steps", Assert.ThrowsAny<UserError>(() => AblationRun.Run([AblationTable.Fusion], Options(dir, "pretrain.steps=0"))).Message);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Table_md_and_results_json_show_mean_and_std_over_seeds_parameter_counts_and_the_papers_numbers()
    {
        var dir = TestSetup.TempDir("ablate-report");
        var o = new AblationOptions { OutDir = dir, Seeds = 2 };
        static AblationCellResult Cell(string row, int seed, double av) =>
            new("sharing", row, seed, new Dictionary<string, double> { ["av_probe"] = av, ["visual_probe"] = 0.5 }, 1000, 5000, 150, 1);
        var cells = new[] { Cell("cross-layer", 0, 0.60), Cell("cross-layer", 1, 0.70), Cell("none", 0, 0.40) };
        var md = AblationReport.Markdown(o, [AblationTable.Sharing], cells);
        Assert.Contains("| row | seeds | Transformer params | total params | AV probe | visual probe | paper top-1 / top-5 |", md);
        Assert.Contains("| cross-layer | 2 | 1,000 | 5,000 | 65.0 ± 7.1 % | 50.0 ± 0.0 % | 65.7 / 89.9 |", md);   // std of 60, 70: 7.07
        Assert.Contains("| no sharing | 1 | 1,000 | 5,000 | 40.0 % | 50.0 % | — |", md);                   // one seed: no std
        Assert.Contains("| cross-layer + all cross-Transformer | 0 | — | — | — | — | 67.1 / 92.3 |", md);
        Assert.Contains("docs/SPEC.md §9", md);
        using var json = JsonDocument.Parse(AblationReport.Results(o, [AblationTable.Sharing], cells));
        var row = json.RootElement.GetProperty("tables").GetProperty("sharing").GetProperty("rows")[1];
        Assert.Equal("cross-layer", row.GetProperty("row").GetString());
        Assert.Equal(0.65, row.GetProperty("mean").GetProperty("av_probe").GetDouble(), 6);
        Assert.Equal(Math.Sqrt(0.005), row.GetProperty("std").GetProperty("av_probe").GetDouble(), 6);
        Assert.Equal(65.7, row.GetProperty("paper").GetProperty("top1").GetDouble());
        Assert.Equal(2, row.GetProperty("cells").GetArrayLength());
    }

    /// <summary>Cancels when a log line contains <paramref name="trigger"/> (the first time).</summary>
    sealed class CancelOn(string trigger, CancellationTokenSource cts) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && value.Contains(trigger, StringComparison.Ordinal)) cts.Cancel();
        }
    }

    /// <summary>
    /// Two fusion rows × 1 seed on toy-av at a tiny size: Ctrl+C during the second cell leaves the first cell's result and
    /// nothing of the second; the rerun keeps the first (not trained again) and runs the second; table.md, results.json
    /// and the PNG describe both; a cell whose result is lost resumes its pretraining from the checkpoint.
    /// </summary>
    [Fact]
    public void Tiny_table_end_to_end_stops_cleanly_and_a_rerun_keeps_finished_cells()
    {
        var dir = TestSetup.TempDir("ablate");
        var o = new AblationOptions
        {
            OutDir = dir, Data = "toy-av:8", Seeds = 1, Steps = 3, Rows = ["early", "late"], ProbeTrainVideos = 16, ProbeTestVideos = 8,
            FeatureBatchSize = 8, Probe = new() { Steps = 20 }, Progress = ProgressMode.Off,
            Sets = DemoTinySets,
        };
        using (var cts = new CancellationTokenSource())
        {
            var log = new CancelOn("cell 2/2", cts);
            Assert.ThrowsAny<OperationCanceledException>(() => AblationRun.Run([AblationTable.Fusion], o with { Log = log }, cts.Token));
        }
        var early = AblationRun.CellDir(dir, AblationTable.Fusion, "early", 0);
        var late = AblationRun.CellDir(dir, AblationTable.Fusion, "late", 0);
        Assert.NotNull(AblationRun.ReadResult(early));
        Assert.Null(AblationRun.ReadResult(late));
        Assert.Empty(Directory.EnumerateFiles(dir, "*.tmp*", SearchOption.AllDirectories));

        var earlyMetrics = Path.Combine(early, "pretrain", "metrics.jsonl");
        var before = (File.ReadAllText(Path.Combine(early, AblationRun.ResultFile)), File.ReadAllText(earlyMetrics));
        var log2 = new StringWriter();
        var summary = AblationRun.Run([AblationTable.Fusion], o with { Log = log2 });
        Assert.Equal((1, 1), (summary.CellsRun, summary.CellsKept));
        Assert.Contains("fusion/early seed 0: finished before, kept", log2.ToString());
        Assert.Equal(before, (File.ReadAllText(Path.Combine(early, AblationRun.ResultFile)), File.ReadAllText(earlyMetrics)));  // not re-run

        var result = AblationRun.ReadResult(late)!;
        Assert.Equal(3, result.PretrainSteps);
        Assert.Equal(["audio_cnn_probe", "audio_probe", "av_cnn_probe", "av_probe", "visual_cnn_probe", "visual_probe"], result.Metrics.Keys.Order());
        Assert.All(result.Metrics.Values, v => Assert.InRange(v, 0.0, 1.0));
        Assert.True(result.TransformerParameters > 0 && result.TotalParameters > result.TransformerParameters);
        Assert.True(File.Exists(Path.Combine(late, "pretrain", "model", "weights.safetensors")));

        var table = File.ReadAllText(Path.Combine(dir, AblationReport.TableFile));
        Assert.Contains("| early fusion | 1 |", table);
        Assert.Contains("| late fusion | 1 |", table);
        Assert.DoesNotContain("mid fusion", table);
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, AblationReport.ResultsFile))))
        {
            var rows = json.RootElement.GetProperty("tables").GetProperty("fusion").GetProperty("rows").EnumerateArray().ToList();
            var lateRow = rows.Single(r => r.GetProperty("row").GetString() == "late");
            Assert.Equal(result.Metrics["av_probe"], lateRow.GetProperty("mean").GetProperty("av_probe").GetDouble(), 6);
            Assert.Equal(["model.fusion=late"], lateRow.GetProperty("set").EnumerateArray().Select(e => e.GetString()));
        }
        Assert.True(new FileInfo(Path.Combine(dir, "fusion.png")).Length > 1000);

        // A cell whose result is lost (stopped after its pretraining): the rerun resumes the pretraining (already at its
        // last step, so no step is trained again) and evaluates again.
        File.Delete(Path.Combine(late, AblationRun.ResultFile));
        var lateMetrics = File.ReadAllText(Path.Combine(late, "pretrain", "metrics.jsonl"));
        var log3 = new StringWriter();
        summary = AblationRun.Run([AblationTable.Fusion], o with { Log = log3 });
        Assert.Equal((1, 1), (summary.CellsRun, summary.CellsKept));
        Assert.Contains("resuming the cell's pretraining", log3.ToString());
        Assert.Equal(lateMetrics, File.ReadAllText(Path.Combine(late, "pretrain", "metrics.jsonl")));
        Assert.Equal(result.Metrics, AblationRun.ReadResult(late)!.Metrics);  // same weights, same probes

        // Other settings into the same folder: refused, nothing run.
        var e = Assert.Throws<UserError>(() => AblationRun.Run([AblationTable.Fusion], o with { Steps = 4, Log = TextWriter.Null }));
        Assert.Contains("steps '3' → '4'", e.Message);
    }

    /// <summary>The demo test's tiny model and clips (a cell in seconds).</summary>
    static readonly string[] DemoTinySets =
    [
        "data.num_frames=2", "data.sequence_length=2", "data.test_crop_size=16", "data.train_crop_size=16", "data.train_jitter_scales=[16,16]",
        "data.audio_frequency=16", "data.audio_time=16",
        "model.visual.width_per_group=4", "model.audio.width_per_group=4",
        "model.transformer.hidden_size=32", "model.transformer.num_heads=2", "model.transformer.intermediate_size=64",
        "model.transformer.num_layers=1", "model.transformer.rank=8",
        "pretrain.batch_size=4", "pretrain.warmup_steps=1", "pretrain.log_every=1",
    ];
}

/// <summary>`ablate` on a labelled media source without --downstream: each cell pretrains on the source's training split
/// (unlabelled, read from the training cache the demo prepares) and is scored by the demo's probes, fitted on train/ and
/// scored on test/ (<see cref="LabeledMediaFixture"/>: 3 classes of solid colours, 9 train and 6 test videos).</summary>
[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public sealed class AblationOnMediaTests(LabeledMediaFixture media) : IClassFixture<LabeledMediaFixture>
{
    AblationOptions Options(string dir, TextWriter log) => new()
    {
        OutDir = dir, Data = "classes:" + media.ClassesDir, Seeds = 1, Steps = 2, Rows = ["current-minibatch"], FeatureBatchSize = 4, Workers = 1,
        Probe = new() { Steps = 60 }, Progress = ProgressMode.Off, Log = log,
        Sets = [.. LabeledMediaFixture.TinySets, "pretrain.batch_size=4", "pretrain.warmup_steps=1", "pretrain.log_every=1", "pretrain.cpp_extra_pairs=3"],
    };

    [Fact]
    public void Without_downstream_a_labelled_source_is_pretrained_on_its_train_split_and_probed_on_its_test_split_as_the_demo_does()
    {
        var dir = TestSetup.TempDir("ablate-media");
        try
        {
            var log = new StringWriter();
            var summary = AblationRun.Run([AblationTable.Negatives], Options(dir, log));
            Assert.Equal((1, 0), (summary.CellsRun, summary.CellsKept));
            Assert.Contains("pretrain: 9 videos", log.ToString());                 // the 9 training videos, not the 6 test videos

            var cell = AblationRun.CellDir(dir, AblationTable.Negatives, "current-minibatch", 0);
            var result = AblationRun.ReadResult(cell)!;
            Assert.Equal(2, result.PretrainSteps);
            Assert.Equal(["a2v_r1", "audio_cnn_probe", "audio_probe", "av_cnn_probe", "av_probe", "visual_cnn_probe", "visual_probe"], result.Metrics.Keys.Order());
            Assert.All(result.Metrics.Values, v => Assert.InRange(v, 0.0, 1.0));
            // Every video of a class shows one solid colour: the visual CNN's features separate the classes whatever the
            // weights, so a probe fitted on train/ with the right labels scores 1 on test/.
            Assert.Equal(1.0, result.Metrics["visual_cnn_probe"]);
            // R@1 through the correct-pair head over the 6 test videos: a multiple of 1/6.
            Assert.Equal(0, result.Metrics["a2v_r1"] * 6 - Math.Round(result.Metrics["a2v_r1"] * 6), 6);
            // The demo's pretraining settings under the row's sampler and the user's --set.
            var config = ConfigLoader.LoadFile(Path.Combine(cell, "pretrain", "config.yaml"));
            Assert.Equal(NegativeSampling.CurrentMinibatch, config.Pretrain.Sampler);
            Assert.Equal(0.05, config.Pretrain.MepTemperature, 6);
            Assert.Equal(4, config.Pretrain.BatchSize);

            var table = File.ReadAllText(Path.Combine(dir, AblationReport.TableFile));
            Assert.Contains("2 pretraining steps, probe on its own test split", table);
            Assert.Contains("A→V R@1", table);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Finetuning_without_downstream_is_a_user_error_before_anything_is_trained()
    {
        var dir = TestSetup.TempDir("ablate-media-ft");
        try
        {
            var e = Assert.Throws<UserError>(() => AblationRun.Run([AblationTable.Negatives], Options(dir, TextWriter.Null) with { Protocol = AblationProtocol.Finetune }));
            Assert.Contains("--downstream", e.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "cells")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
