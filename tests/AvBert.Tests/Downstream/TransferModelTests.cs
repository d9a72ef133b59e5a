using AvBert.Config;
using AvBert.Runs;
using AvBert.Data;
using AvBert.Downstream;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Training;
using TorchSharp;
using static TorchSharp.torch;
using AvBert.Data.Sources;

namespace AvBert.Tests.Downstream;

public class TransferModelTests
{
    [Theory]
    [InlineData(DownstreamTask.Visual, 1)]
    [InlineData(DownstreamTask.Audio, 1)]
    [InlineData(DownstreamTask.Audiovisual, 2)]
    [InlineData(DownstreamTask.Multilabel, 2)]
    public void Every_task_predicts_per_clip_from_each_head(DownstreamTask task, int heads)
    {
        using var model = TinyTransfer.Build(task, TransferProtocol.Finetune, classes: 5);
        model.eval();
        var (v, a) = TinyTransfer.Inputs(batch: 2, clips: 3);
        var logits = model.Forward(task == DownstreamTask.Audio ? null : v, task == DownstreamTask.Visual ? null : a);
        Assert.Equal(heads, logits.Count);
        foreach (var l in logits) Assert.Equal(new long[] { 6, 5 }, l.shape);   // B·T rows
    }

    [Theory]
    [InlineData(Modalities.Visual, DownstreamTask.Visual, DownstreamTask.Audio)]
    [InlineData(Modalities.Audio, DownstreamTask.Audio, DownstreamTask.Audiovisual)]
    public void A_single_modality_model_fine_tunes_on_its_stream_and_refuses_the_others(Modalities only, DownstreamTask task, DownstreamTask other)
    {
        var cfg = TinyTransfer.Model(Fusion.Late) with { Modalities = only };
        using var model = new TransferModel(new AvBertModel(cfg, TinyTransfer.Data), new TransferModelOptions(task, TransferProtocol.Finetune, 4));
        model.eval();
        var (v, a) = TinyTransfer.Inputs(2, 3);
        var logits = model.Forward(only == Modalities.Visual ? v : null, only == Modalities.Audio ? a : null);
        Assert.Equal(new long[] { 6, 4 }, logits.Single().shape);
        var e = Assert.Throws<UserError>(() => new TransferModel(new AvBertModel(cfg, TinyTransfer.Data), new TransferModelOptions(other, TransferProtocol.Finetune, 4)));
        Assert.Contains($"model.modalities: {only.ToString().ToLowerInvariant()}", e.Message);
    }

    [Fact]
    public void Late_fusion_feeds_the_sequence_head_from_the_modality_transformers()
    {
        using var model = TinyTransfer.Build(DownstreamTask.Audiovisual, TransferProtocol.Finetune, fusion: Fusion.Late);
        model.eval();
        var (v, a) = TinyTransfer.Inputs(2, 3);
        Assert.Equal(new long[] { 6, 3 }, model.Forward(v, a)[1].shape);
    }

    [Fact]
    public void Linear_protocol_trains_the_head_and_leaves_the_backbone_bit_identical()
    {
        using var model = TinyTransfer.Build(DownstreamTask.Audiovisual, TransferProtocol.Linear);
        var before = model.Backbone.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var headBefore = model.HeadStateDict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(model.named_parameters(), 0.1, 0.01), new AdamOptions { Kind = OptimizerKind.Adam });
        Assert.All(opt.Parameters, p => Assert.DoesNotContain(model.Backbone.parameters(), b => b.Handle == p.Handle));
        var objective = new ClassificationObjective(ClassificationLoss.CrossEntropy, 0.1, 3);
        for (int step = 0; step < 3; step++)
        {
            model.train();
            Assert.False(model.Backbone.training);              // BatchNorm statistics and dropout stay frozen
            var (v, a) = TinyTransfer.Inputs(2, 3, seed: step);
            opt.ZeroGrad();
            var logits = model.Forward(v, a);
            objective.Compute(logits, objective.Targets([[0], [2]], 3, CPU)).backward();
            opt.Step();
        }
        foreach (var (k, t) in model.Backbone.state_dict()) Assert.True(Same(before[k], t), $"backbone '{k}' changed");
        Assert.Contains(model.HeadStateDict(), kv => !Same(headBefore[kv.Key], kv.Value));
        Assert.All(model.Backbone.parameters(), p => Assert.Null(p.grad));
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Finetune_protocol_moves_the_backbone()
    {
        using var model = TinyTransfer.Build(DownstreamTask.Visual, TransferProtocol.Finetune);
        var before = model.Backbone.VisualCnn.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(model.named_parameters(), 0.1, 0), new AdamOptions { Kind = OptimizerKind.Adam });
        model.train();
        var (v, _) = TinyTransfer.Inputs(2, 2);
        var objective = new ClassificationObjective(ClassificationLoss.CrossEntropy, 0.1, 3);
        objective.Compute(model.Forward(v, null), objective.Targets([[0], [1]], 2, CPU)).backward();
        opt.Step();
        Assert.Contains(model.Backbone.VisualCnn.state_dict(), kv => kv.Value.is_floating_point() && !Same(before[kv.Key], kv.Value));
    }

    [Fact]
    public void Saved_model_loads_back_with_the_same_predictions()
    {
        using var model = TinyTransfer.Build(DownstreamTask.Audiovisual, TransferProtocol.Finetune);
        model.eval();
        var cfg = new AvBertConfig
        {
            Model = TinyTransfer.Model(), Data = TinyTransfer.Data,
            Downstream = new DownstreamConfig { Task = DownstreamTask.Audiovisual, ClassNames = ["a", "b", "c"] },
        };
        var run = TestSetup.TempDir("transfer");
        TransferModelDirectory.Save(Path.Combine(run, "model"), cfg, model);
        var (back, loaded) = TransferModelDirectory.Load(run, CPU);      // the run folder resolves to run/model
        using var _ = loaded;
        Assert.Equal(["a", "b", "c"], back.Downstream.ClassNames);
        var (v, a) = TinyTransfer.Inputs(1, 3);
        var expected = model.Forward(v, a);
        var actual = loaded.Forward(v, a);
        for (int i = 0; i < 2; i++) Assert.True(expected[i].allclose(actual[i], rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void A_pretrained_model_without_a_head_is_refused_for_prediction()
    {
        var dir = TestSetup.TempDir("nohead");
        manual_seed(0);
        AvBert.Model.ModelDirectory.Save(dir, new AvBertConfig { Model = TinyTransfer.Model(), Data = TinyTransfer.Data }, new AvBert.Model.AvBertModel(TinyTransfer.Model(), TinyTransfer.Data));
        var e = Assert.Throws<UserError>(() => TransferModelDirectory.Load(dir, CPU));
        Assert.Contains("fine-tune it first", e.Message);
        Assert.Equal(dir, TransferModelDirectory.Resolve(dir));          // but it is a model directory (extract takes it)
    }

    [Fact]
    public void Eval_data_is_renumbered_to_the_models_classes_by_name()
    {
        var source = new MediaSource("s", [new MediaItem("x.mp4", [0]), new MediaItem("y.mp4", [1])], ["green", "red"], false);
        var mapped = TaskData.Remap(source, ["blue", "green", "red"]);
        Assert.Equal([[1], [2]], mapped.Items.Select(i => i.Labels));
        var unknown = new MediaSource("s", [new MediaItem("x.mp4", [0])], ["purple"], false);
        Assert.Contains("'purple'", Assert.Throws<UserError>(() => TaskData.Remap(unknown, ["blue"])).Message);
    }

    [Fact]
    public void Single_label_tasks_refuse_multi_label_videos()
    {
        var source = new MediaSource("s", [new MediaItem("x.mp4", [0, 1])], ["a", "b"], true);
        Assert.Contains("--task multilabel", Assert.Throws<UserError>(() => TaskData.CheckLabels(source, DownstreamTask.Visual, "--data")).Message);
        TaskData.CheckLabels(source, DownstreamTask.Multilabel, "--data");
        var unlabeled = new MediaSource("s", [new MediaItem("x.mp4", [])], [], false);
        Assert.Contains("no labels", Assert.Throws<UserError>(() => TaskData.CheckLabels(unlabeled, DownstreamTask.Audio, "--data")).Message);
    }

    [Fact]
    public void Feature_files_mirror_the_input_folders()
    {
        var names = FeatureExport.OutputNames(["/d/a/x.mp4", "/d/b/x.mp4", "/d/b/y.wav", "/d/b/y.mp4"]);
        Assert.Equal(["a/x.safetensors", "b/x.safetensors", "b/y.safetensors", "b/y-2.safetensors"], names);
    }
}
