using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using AvBert.Tests.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>
/// Activation checkpointing (train.checkpoint_activations) must change memory, never numbers: the loss, every parameter
/// gradient and every BatchNorm statistic after a step equal those of the same step without it, dropout included.
/// </summary>
[Collection(TorchRngCollection.Name)]
public class ActivationCheckpointTests
{
    sealed record StepResult(double Loss, Dictionary<string, Tensor> Grads, Dictionary<string, Tensor> Buffers, Tensor RngAfter);

    /// <summary>One training step of a tiny model (dropout 0.1 in the Transformers) with <paramref name="mode"/>.</summary>
    static StepResult Step(CheckpointActivations mode, Fusion fusion = Fusion.Mid, bool crossLayer = true,
                           CrossTransformerSharing sharing = CrossTransformerSharing.Partial, ModelConfig? config = null)
    {
        manual_seed(5);
        var model = config is null ? TinyModels.Build(fusion, crossLayer, sharing) : new AvBertModel(config, TinyModels.Data);
        var (visual, audio) = TinyModels.Inputs();
        // A first forward settles the CPU convolution self-check (docs/cpu-correctness.md), which may move this machine's
        // convolutions to another path when it first meets a model's shapes: both compared steps then run on the same one.
        model.eval();
        using (no_grad()) model.forward(visual, audio);
        ActivationCheckpoint.Apply(model, mode);
        model.train();
        manual_seed(17);   // the same dropout draws with and without
        var o = model.forward(visual, audio);
        var parts = new[] { o.VisualPooled, o.AudioPooled, o.Xv, o.Xa, o.Context.Visual, o.Context.Audio, o.Context.Multimodal }
            .Where(t => t is not null).Select((t, i) => (t!.sin() * (i + 1)).sum());
        var loss = stack(parts.ToArray()).sum();
        loss.backward();
        var grads = model.named_parameters().Where(p => p.parameter.grad is not null)
                         .ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        var buffers = model.named_buffers().ToDictionary(b => b.name, b => b.buffer.detach().clone());
        return new StepResult(loss.item<float>(), grads, buffers, torch.random.get_rng_state());
    }

    static void AssertSame(StepResult plain, StepResult checkpointed)
    {
        Assert.Equal(plain.Loss, checkpointed.Loss, 6);
        Assert.True(Math.Abs(plain.Loss - checkpointed.Loss) <= 1e-6 * Math.Abs(plain.Loss), $"loss {plain.Loss} vs {checkpointed.Loss}");
        Assert.Equal(plain.Grads.Keys.Order(), checkpointed.Grads.Keys.Order());
        foreach (var (name, g) in plain.Grads)
        {
            var c = checkpointed.Grads[name];
            double scale = Math.Max(g.abs().max().item<float>(), 1e-12);
            double diff = (g - c).abs().max().item<float>();
            Assert.True(diff <= 1e-6 * scale, $"gradient of {name}: max|diff| {diff:g3} vs max|g| {scale:g3}");
        }
        Assert.Equal(plain.Buffers.Keys.Order(), checkpointed.Buffers.Keys.Order());
        foreach (var (name, b) in plain.Buffers)
            Assert.True(b.eq(checkpointed.Buffers[name]).all().item<bool>(), $"buffer {name} differs (BatchNorm statistics updated twice?)");
        Assert.True(plain.RngAfter.eq(checkpointed.RngAfter).all().item<bool>(), "the random state after the step differs");
    }

    [Theory]
    [InlineData(CheckpointActivations.Cnn)]
    [InlineData(CheckpointActivations.CnnBlocks)]
    [InlineData(CheckpointActivations.Transformer)]
    [InlineData(CheckpointActivations.All)]
    public void Checkpointing_gives_the_same_loss_gradients_and_batchnorm_statistics(CheckpointActivations mode)
    {
        var plain = Step(CheckpointActivations.None);
        var checkpointed = Step(mode);
        AssertSame(plain, checkpointed);
        Assert.Contains(plain.Buffers.Keys, k => k.EndsWith("running_mean"));   // the test sees BatchNorm statistics
    }

    [Theory]
    [InlineData(Fusion.Early, true, CrossTransformerSharing.None)]
    [InlineData(Fusion.Late, false, CrossTransformerSharing.LowRank)]
    [InlineData(Fusion.Mid, false, CrossTransformerSharing.All)]
    [InlineData(Fusion.Mid, true, CrossTransformerSharing.Partial)]
    public void Checkpointing_is_exact_for_every_fusion_and_sharing(Fusion fusion, bool crossLayer, CrossTransformerSharing sharing) =>
        AssertSame(Step(CheckpointActivations.None, fusion, crossLayer, sharing), Step(CheckpointActivations.All, fusion, crossLayer, sharing));

    [Theory]
    [InlineData("slowfast")]
    [InlineData("basic")]
    public void Checkpointing_is_exact_for_slowfast_and_basic_blocks(string cnn)
    {
        var config = cnn == "slowfast"
            ? TinyModels.Model() with
            {
                Visual = new VisualCnnConfig { Arch = VisualCnnArch.Slowfast, StageBlocks = [1, 1, 1, 1], WidthPerGroup = 4 }
                    is var v ? v with { Slowfast = v.Slowfast with { Alpha = 2, BetaInv = 2 } } : null!,
            }
            : TinyModels.Model() with
            {
                Visual = new VisualCnnConfig { Block = ResNetBlock.Basic, StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 },
                Audio = new AudioCnnConfig { Block = ResNetBlock.Basic, StageBlocks = [1, 1, 1, 1], WidthPerGroup = 2 },
            };
        AssertSame(Step(CheckpointActivations.None, config: config), Step(CheckpointActivations.Cnn, config: config));
        AssertSame(Step(CheckpointActivations.None, config: config), Step(CheckpointActivations.CnnBlocks, config: config));
    }

    [Fact]
    public void The_cnn_segments_draw_no_random_numbers()
    {
        // CNN stages are checkpointed without replaying the random state: they must have no dropout or other random op.
        manual_seed(3);
        using var model = TinyModels.Build();
        model.train();
        var (visual, audio) = TinyModels.Inputs();
        var before = torch.random.get_rng_state();
        model.PoolVisual(visual).sum().add(model.PoolAudio(audio).sum()).backward();
        Assert.True(before.eq(torch.random.get_rng_state()).all().item<bool>());
    }

    [Fact]
    public void Without_a_graph_to_record_the_segments_just_run()
    {
        manual_seed(4);
        using var model = TinyModels.Build();
        var (visual, audio) = TinyModels.Inputs();
        model.eval();
        var plain = model.forward(visual, audio).Context.Multimodal!;
        ActivationCheckpoint.Apply(model, CheckpointActivations.All);
        using (no_grad())
        {
            var under = model.forward(visual, audio).Context.Multimodal!;
            Assert.False(under.requires_grad);
            Assert.True(plain.allclose(under, rtol: 1e-6, atol: 1e-7));
        }
    }

    [Fact]
    public void Apply_sets_the_cnns_and_the_transformer_stacks_as_the_mode_says()
    {
        using var model = TinyModels.Build();
        var visual = (VisualResNet3D)model.VisualCnn;
        ActivationCheckpoint.Apply(model, CheckpointActivations.Cnn);
        Assert.Equal(CnnCheckpoint.Stages, visual.Checkpoint);
        Assert.Equal(CnnCheckpoint.Stages, model.AudioCnn.Checkpoint);
        Assert.All(model.TransformerStacks.Values, s => Assert.False(s.CheckpointSegments));
        ActivationCheckpoint.Apply(model, CheckpointActivations.CnnBlocks);
        Assert.Equal(CnnCheckpoint.Blocks, model.AudioCnn.Checkpoint);
        ActivationCheckpoint.Apply(model, CheckpointActivations.Transformer);
        Assert.Equal(CnnCheckpoint.None, model.AudioCnn.Checkpoint);
        Assert.All(model.TransformerStacks.Values, s => Assert.True(s.CheckpointSegments));
        ActivationCheckpoint.Apply(model, CheckpointActivations.All);
        Assert.Equal(CnnCheckpoint.Stages, visual.Checkpoint);
        Assert.All(model.TransformerStacks.Values, s => Assert.True(s.CheckpointSegments));
        ActivationCheckpoint.Apply(model, CheckpointActivations.None);
        Assert.Equal(CnnCheckpoint.None, visual.Checkpoint);
        Assert.All(model.TransformerStacks.Values, s => Assert.False(s.CheckpointSegments));
    }

    [Fact]
    public void The_node_output_cache_is_released()
    {
        // TorchSharp's node would otherwise keep an uninitialised copy of every segment output (its private fields are
        // reached by reflection: a TorchSharp upgrade that renames them fails here).
        var lin = nn.Linear(4, 4);
        var x = randn(3, 4);
        var y = ActivationCheckpoint.Run(h => lin.call(h).relu(), x, lin);
        y.sum().backward();
        Assert.True(ActivationCheckpoint.OutputCacheReleased);
        Assert.NotNull(lin.weight!.grad);
    }

    [Fact]
    public void The_recomputation_runs_under_the_forwards_autocast_dtype()
    {
        Assert.True(Autocast.Available, LibTorchExports.Missing);
        manual_seed(1);
        var lin = nn.Linear(8, 8);
        var x = randn(4, 8);
        Tensor Grad(bool checkpoint)
        {
            lin.zero_grad();
            Tensor y;
            using (Autocast.Enter(CPU, ScalarType.BFloat16))
            {
                Assert.Equal(ScalarType.BFloat16, Autocast.ActiveDtype(CPU));
                y = checkpoint ? ActivationCheckpoint.Run(h => lin.call(h).tanh(), x, lin) : lin.call(x).tanh();
            }
            Assert.Null(Autocast.ActiveDtype(CPU));
            Assert.Equal(ScalarType.BFloat16, y.dtype);
            y.to(float32).pow(2).sum().backward();
            return lin.weight!.grad!.clone();
        }
        Assert.True(Grad(false).eq(Grad(true)).all().item<bool>());
    }

    [Fact]
    public void Config_takes_checkpoint_activations_and_names_the_field_of_a_bad_value()
    {
        Assert.Equal(CheckpointActivations.None, ConfigLoader.Load("small").Train.CheckpointActivations);
        Assert.Equal(CheckpointActivations.Cnn, ConfigLoader.Load("small", overrides: ["train.checkpoint_activations=cnn"]).Train.CheckpointActivations);
        Assert.Equal(CheckpointActivations.All, ConfigLoader.Load("small", overrides: ["train.checkpoint_activations=all"]).Train.CheckpointActivations);
        Assert.Equal(CheckpointActivations.CnnBlocks, ConfigLoader.Load("small", overrides: ["train.checkpoint_activations=cnn_blocks"]).Train.CheckpointActivations);
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load("small", overrides: ["train.checkpoint_activations=stages"]));
        Assert.Contains("train.checkpoint_activations", e.Message);
        Assert.Contains("none", e.Message);
    }
}
