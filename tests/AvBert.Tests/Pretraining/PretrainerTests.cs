using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Runtime;
using AvBert.Tests.Training;
using AvBert.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

[Collection(TorchRngCollection.Name)]
public class PretrainerTests
{
    /// <summary>A tiny model: small preset shrunk further (2 clips of 4 frames at 32², 16×32 log-mel).</summary>
    internal static AvBertConfig Tiny(params string[] sets) => ConfigLoader.Load("small", overrides:
    [
        "model.visual.width_per_group=4", "model.audio.width_per_group=4",
        "model.transformer.hidden_size=32", "model.transformer.num_heads=2", "model.transformer.intermediate_size=64",
        "model.transformer.num_layers=1", "model.transformer.rank=8",
        "data.num_frames=4", "data.sequence_length=3", "data.train_crop_size=32", "data.test_crop_size=32",
        "data.train_jitter_scales=[32, 40]", "data.audio_frequency=16", "data.audio_time=32",
        "pretrain.negatives=4", .. sets,
    ]);

    static (Tensor V, Tensor A) Inputs(AvBertConfig c, int batch)
    {
        var d = c.Data;
        return (randn([batch, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]),
                randn([batch, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime]));
    }

    [Theory]
    [InlineData(Fusion.Mid, new[] { "visual", "audio", "multimodal" })]
    [InlineData(Fusion.Early, new[] { "multimodal" })]
    [InlineData(Fusion.Late, new[] { "visual", "audio" })]
    public void Loss_is_the_sum_of_mep_per_stream_and_cpp(Fusion fusion, string[] streams)
    {
        manual_seed(1);
        var c = Tiny($"model.fusion={fusion.ToString().ToLowerInvariant()}");
        var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        var (v, a) = Inputs(c, 4);
        var l = p.forward(v, a);
        var keys = l.Parts.Keys.Where(k => k.StartsWith("loss_mep_")).Select(k => k["loss_mep_".Length..]).Order().ToArray();
        Assert.Equal(streams.Order().ToArray(), keys);
        double mep = streams.Sum(s => l.Parts[$"loss_mep_{s}"].item<float>());
        Assert.Equal(mep, l.Parts["loss_mep"].item<float>(), 4);
        Assert.Equal(mep + l.Parts["loss_cpp"].item<float>(), l.Total.item<float>(), 4);
        Assert.True(double.IsFinite(l.Total.item<float>()));
        // With K negatives + the positive, chance level of InfoNCE is log(K+1).
        foreach (var s in streams) Assert.InRange(l.Parts[$"loss_mep_{s}"].item<float>(), 0.2, 10);
    }

    [Theory]
    [InlineData(Fusion.Mid)]
    [InlineData(Fusion.Early)]
    [InlineData(Fusion.Late)]
    public void Cpp_from_clip_pairs_averages_one_logit_per_clip_position(Fusion fusion)
    {
        manual_seed(3);
        var c = Tiny($"model.fusion={fusion.ToString().ToLowerInvariant()}", "pretrain.cpp_pooling=clips");
        var model = new AvBertModel(c.Model, c.Data);
        var p = new AvBertPretrainer(model, c.Model, c.Pretrain);
        p.eval();
        var (v, a) = Inputs(c, 4);
        using var _ = no_grad();
        var ctx = model.Contextualize(model.EncodeVisual(v), model.EncodeAudio(a));
        var (vIn, aIn) = AvBertPretrainer.CppInputs(ctx, CppPooling.Clips);
        int T = c.Data.SequenceLength;
        Assert.Equal(new long[] { 4, T, c.Model.Transformer.HiddenSize }, vIn.shape);
        Assert.Equal(vIn.shape, aIn.shape);
        var logits = p.CppHead!.call(vIn, aIn);                                  // [B]
        Assert.Equal(new long[] { 4 }, logits.shape);
        var perClip = stack(Enumerable.Range(0, T).Select(t => p.CppHead.call(vIn[.., t], aIn[.., t])), 1);   // [B,T]
        Assert.True(logits.allclose(perClip.mean([1]), atol: 1e-6));
        // ...and one position's pair decides its own logit: swapping the audio of clip 0 changes the score.
        var swapped = aIn.clone();
        swapped[.., 0] = aIn[.., 1];
        Assert.False(logits.allclose(p.CppHead.call(vIn, swapped), atol: 1e-6));
        p.train();
        Assert.True(double.IsFinite(p.forward(v, a).Parts["loss_cpp"].item<float>()));
    }

    [Fact]
    public void Mean_reduction_and_disabled_cpp_are_honoured()
    {
        manual_seed(2);
        var c = Tiny("pretrain.mep_reduction=mean", "pretrain.cpp_fraction=0", "pretrain.mep_streams=[visual, multimodal]", "pretrain.share_mep_heads=true");
        var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        var (v, a) = Inputs(c, 3);
        var l = p.forward(v, a);
        Assert.False(l.Parts.ContainsKey("loss_cpp"));
        Assert.Equal((l.Parts["loss_mep_visual"].item<float>() + l.Parts["loss_mep_multimodal"].item<float>()) / 2, l.Total.item<float>(), 4);
        Assert.Single(p.named_children().Single(ch => ch.name == "mep_heads").module.children());
    }

    [Fact]
    public void Gradients_reach_the_cnn_weights_through_the_mep_targets()
    {
        // Every position masked by the mask vector and no CPP: the Transformers never see x, so any gradient on the CNNs
        // comes through the MEP positives and negatives (not detached).
        manual_seed(3);
        var c = Tiny("pretrain.mask_prob=1", "pretrain.mask_token_fraction=1", "pretrain.mask_random_fraction=0", "pretrain.cpp_fraction=0");
        var model = new AvBertModel(c.Model, c.Data);
        var p = new AvBertPretrainer(model, c.Model, c.Pretrain);
        var (v, a) = Inputs(c, 2);
        p.forward(v, a).Total.backward();
        double Norm(TorchSharp.torch.nn.Module m) => m.parameters().Where(x => x.grad is not null).Sum(x => x.grad!.abs().sum().item<float>());
        Assert.True(Norm(model.VisualCnn) > 0, "visual CNN got no gradient");
        Assert.True(Norm(model.AudioCnn) > 0, "audio CNN got no gradient");
    }

    [Fact]
    public void Forward_is_reproducible_under_a_seed()
    {
        manual_seed(4);
        var c = Tiny();
        var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        var (v, a) = Inputs(c, 4);
        p.train();
        manual_seed(42);
        var l1 = p.forward(v, a).Total.item<float>();
        manual_seed(42);
        var l2 = p.forward(v, a).Total.item<float>();
        manual_seed(43);
        var l3 = p.forward(v, a).Total.item<float>();
        Assert.Equal(l1, l2);
        Assert.NotEqual(l1, l3);
    }
}

[Collection(TorchRngCollection.Name)]
public class PretrainerResumeTests
{
    [Fact]
    public void Resumed_pretraining_gives_the_same_losses_as_an_uninterrupted_run()
    {
        // The real model (BatchNorm statistics, dropout) and every random choice of the objectives (masks, negatives, CPP).
        var c = PretrainerTests.Tiny("pretrain.batch_size=2", "data.sequence_length=2");
        var d = c.Data;
        IEnumerable<(Tensor V, Tensor A)> Data(long start)
        {
            for (long i = start; ; i++)
            {
                var g = new TorchSharp.torch.Generator(77 + (ulong)i);
                yield return (randn([2, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize], generator: g),
                              randn([2, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime], generator: g));
            }
        }
        List<double> Train(string run, int seed, bool resume, CancellationToken ct = default, Action<long>? after = null)
        {
            manual_seed(seed);
            var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
            using var opt = TrainingOptimizer.Create(TrainingOptimizer.DecayGroups(p.named_parameters(), 1e-3, 1e-4), new AdamOptions());
            var losses = new List<double>();
            try
            {
                new Trainer(p, opt, new LrSchedule(LrScheduleKind.Linear, 1, 3),
                        new TrainerOptions { Steps = 3, Seed = 5, Progress = ProgressMode.Off, CheckpointEvery = 0, TensorBoard = false, PlotCurves = false }, run)
                    .Run(s => Data(s), b => { var l = p.forward(b.V, b.A); return new StepOutput(l.Total, l.Parts, 2); },
                         resume, (s, v) => { losses.Add(v["loss"]); after?.Invoke(s); }, ct);
            }
            catch (OperationCanceledException) { }
            return losses;
        }
        var full = Train(TestSetup.TempDir("pt-full"), 1, false);
        var run = TestSetup.TempDir("pt-resume");
        using var cts = new CancellationTokenSource();
        var first = Train(run, 1, false, cts.Token, s => { if (s == 1) cts.Cancel(); });
        var second = Train(run, 2, true);
        Assert.Single(first);
        Assert.Equal(full, first.Concat(second).ToList());
    }
}
