using AvBert.Config;
using AvBert.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

public class AvBertModelTests
{
    [Theory]
    [MemberData(nameof(TinyModels.AllFusionAndSharing), MemberType = typeof(TinyModels))]
    public void Outputs_have_the_contract_shapes_in_every_fusion_and_sharing_mode(Fusion fusion, CrossTransformerSharing sharing)
    {
        using var model = TinyModels.Build(fusion, crossLayer: true, sharing);
        model.eval();
        var (visual, audio) = TinyModels.Inputs();
        using var _ = no_grad();
        var o = model.forward(visual, audio);
        const int b = TinyModels.B, t = TinyModels.T, d = 16;
        Assert.Equal([b, t, model.VisualFeatureDim], o.VisualPooled.shape);
        Assert.Equal([b, t, model.AudioFeatureDim], o.AudioPooled.shape);
        Assert.Equal(64, model.VisualFeatureDim);     // 32 · width 2
        Assert.Equal(64, model.AudioFeatureDim);
        Assert.Equal([b, t, d], o.Xv.shape);
        Assert.Equal([b, t, d], o.Xa.shape);
        if (fusion == Fusion.Early) { Assert.Null(o.Context.Visual); Assert.Null(o.Context.Audio); }
        else
        {
            Assert.Equal([b, t + 1, d], o.Context.Visual!.shape);
            Assert.Equal([b, t + 1, d], o.Context.Audio!.shape);
        }
        if (fusion == Fusion.Late) Assert.Null(o.Context.Multimodal);
        else Assert.Equal([b, 2 * (t + 1), d], o.Context.Multimodal!.shape);
        foreach (var x in new[] { o.Context.Visual, o.Context.Audio, o.Context.Multimodal }.OfType<Tensor>())
            Assert.True(x.isfinite().all().item<bool>());
    }

    [Fact]
    public void Encode_and_contextualize_compose_to_forward()
    {
        using var model = TinyModels.Build();
        model.eval();
        var (visual, audio) = TinyModels.Inputs();
        using var _ = no_grad();
        var whole = model.forward(visual, audio);
        var xv = model.EncodeVisual(visual);
        var xa = model.EncodeAudio(audio);
        var ctx = model.Contextualize(xv, xa);
        Assert.True(xv.allclose(whole.Xv, 0, 0));
        Assert.True(ctx.Multimodal!.allclose(whole.Context.Multimodal!, 0, 0));
        // The visual BOS is position 0 and the audio BOS position T+1 of the multimodal output; masking x^v changes
        // the output, so pretraining can mask between the two calls.
        var masked = model.Contextualize(zeros_like(xv), xa);
        Assert.False(masked.Multimodal!.allclose(whole.Context.Multimodal!));
    }

    [Fact]
    public void Dropout_is_active_in_train_mode_only_also_through_shared_weights()
    {
        using var model = TinyModels.Build();
        var (visual, audio) = TinyModels.Inputs();
        using var _ = no_grad();
        model.eval();
        var xv = model.EncodeVisual(visual);
        var xa = model.EncodeAudio(audio);
        var a = model.Contextualize(xv, xa).Multimodal!;
        var b = model.Contextualize(xv, xa).Multimodal!;
        Assert.True(a.allclose(b, 0, 0));
        model.train();
        var c = model.Contextualize(xv, xa).Multimodal!;
        Assert.False(a.allclose(c, 1e-4, 1e-4));
    }

    [Theory]
    [MemberData(nameof(TinyModels.AllSharing), MemberType = typeof(TinyModels))]
    public void A_few_optimiser_steps_give_every_parameter_a_finite_gradient_and_change_it(bool crossLayer, CrossTransformerSharing sharing)
    {
        torch.manual_seed(1);
        using var model = TinyModels.Build(Fusion.Mid, crossLayer, sharing);
        model.train();
        var parameters = model.named_parameters().ToList();
        var before = parameters.ToDictionary(p => p.name, p => p.parameter.detach().clone());
        var optimizer = optim.Adam(model.parameters(), lr: 1e-2);
        var (visual, audio) = TinyModels.Inputs();
        var seen = new HashSet<string>();
        for (int step = 0; step < 3; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var o = model.forward(visual, audio);
            // A fixed random readout of every output (a plain sum would be blind to LayerNorm's inputs).
            var g = new Generator(7);
            var loss = new[] { o.Context.Visual!, o.Context.Audio!, o.Context.Multimodal!, o.VisualPooled, o.AudioPooled }
                .Select(x => (x * randn(x.shape, generator: g)).sum()).Aggregate((x, y) => x + y);
            loss.backward();
            foreach (var (name, p) in parameters)
            {
                Assert.True(p.grad is not null, $"{name}: no gradient");
                Assert.True(p.grad!.isfinite().all().item<bool>(), $"{name}: non-finite gradient");
                if (p.grad.abs().max().item<float>() > 0) seen.Add(name);
            }
            optimizer.step();
        }
        foreach (var (name, p) in parameters)
        {
            Assert.Contains(name, seen);
            Assert.True((p.detach() - before[name]).abs().max().item<float>() > 0, $"{name} did not change");
        }
    }

    [Theory]
    [MemberData(nameof(TinyModels.AllSharing), MemberType = typeof(TinyModels))]
    public void Every_tensor_is_listed_once_in_parameters_and_state_dict(bool crossLayer, CrossTransformerSharing sharing)
    {
        using var model = TinyModels.Build(Fusion.Mid, crossLayer, sharing);
        var parameters = model.parameters().ToList();
        Assert.Equal(parameters.Count, parameters.Select(p => p.Handle).Distinct().Count());
        var state = model.state_dict();
        Assert.Equal(state.Count, state.Values.Select(t => t.Handle).Distinct().Count());
        Assert.Equal(parameters.Count, model.named_parameters().Count(p => state.ContainsKey(p.name)));
    }

    [Fact]
    public void Sharing_modes_name_their_weight_stacks()
    {
        using (var m = TinyModels.Build(Fusion.Mid, true, CrossTransformerSharing.Partial))
            Assert.Equal(["transformer"], m.TransformerStacks.Keys);
        using (var m = TinyModels.Build(Fusion.Mid, true, CrossTransformerSharing.None))
            Assert.Equal(["visual_transformer", "audio_transformer", "multimodal_transformer"], m.TransformerStacks.Keys);
        using (var m = TinyModels.Build(Fusion.Late, false, CrossTransformerSharing.All))
            Assert.Equal(["transformer"], m.TransformerStacks.Keys);
        using (var m = TinyModels.Build(Fusion.Early, true, CrossTransformerSharing.Partial))
            Assert.Equal(["multimodal_transformer"], m.TransformerStacks.Keys);
        using (var m = TinyModels.Build(Fusion.Mid, true, CrossTransformerSharing.Partial))
        {
            var names = m.state_dict().Keys.Where(k => k.Contains(".private.")).Select(k => k.Split('.')[6]).Distinct().Order();
            Assert.Equal(["audio", "multimodal", "visual"], names);
            Assert.Equal(2, m.TransformerStacks["transformer"].LayerSchedule.Count);
            Assert.Single(m.TransformerStacks["transformer"].Layers);
        }
    }

    [Fact]
    public void Albert_groups_split_the_layers_evenly_and_repeat_inner_layers()
    {
        var t = new TransformerConfig { NumLayers = 6, NumLayerGroups = 2, InnerLayersPerGroup = 2 };
        Assert.Equal([0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3], TransformerEncoder.Schedule(t));
        Assert.Equal([0, 1, 2, 3], TransformerEncoder.Schedule(t with { ShareAcrossLayers = false, NumLayers = 4 }));
    }

    [Fact]
    public void Initial_weights_follow_the_reference_initialisation()
    {
        using var model = TinyModels.Build();
        var state = model.state_dict();
        // The last BN of every residual branch starts at zero, the others at one.
        Assert.Equal(0f, state["visual_cnn.stage1.0.bn3.weight"].abs().max().item<float>());
        Assert.Equal(0f, state["audio_cnn.stage4.0.bn3.weight"].abs().max().item<float>());
        Assert.Equal(1f, state["visual_cnn.stage1.0.bn1.weight"].min().item<float>());
        Assert.Equal(1f, state["visual_cnn.stage1.0.shortcut_bn.weight"].min().item<float>());
        Assert.Equal(0f, state["visual_projection.bias"].abs().max().item<float>());
        Assert.Equal(1f, state["visual_norm.weight"].min().item<float>());
        // Linears and embeddings ~ N(0, 0.02).
        var std = state["visual_embeddings.position_embeddings.weight"].std().item<float>();
        Assert.InRange(std, 0.015f, 0.025f);
        Assert.True(state["transformer.layers.0.attention.query.private.visual.sigma.base"].allclose(eye(4)));
    }

    [Fact]
    public void Small_preset_builds_and_runs_forward_and_backward_on_cpu()
    {
        var cfg = ConfigLoader.Load("small");
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        model.train();
        var (visual, audio) = TinyModels.Inputs(cfg.Data, batch: 2);
        var o = model.forward(visual, audio);
        Assert.Equal([2, cfg.Data.SequenceLength + 1, cfg.Model.Transformer.HiddenSize], o.Context.Visual!.shape);
        Assert.Equal([2, 2 * (cfg.Data.SequenceLength + 1), cfg.Model.Transformer.HiddenSize], o.Context.Multimodal!.shape);
        o.Context.Multimodal!.square().mean().backward();
        Assert.True(model.parameters().All(p => p.grad is null || p.grad.isfinite().all().item<bool>()));
    }
}
