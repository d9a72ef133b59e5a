using AvBert.Config;
using AvBert.Model;
using AvBert.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

public class ModelDirectoryTests
{
    [Fact]
    public void Save_then_load_round_trips_every_tensor_and_the_outputs_exactly()
    {
        torch.manual_seed(4);
        var cfg = new AvBertConfig { Model = TinyModels.Model(), Data = TinyModels.Data };
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        using (no_grad())
            foreach (var (_, t) in model.state_dict())          // BN statistics and counters too
                if (t.dtype == float32) t.copy_(rand(t.shape) + 0.5);
                else t.fill_(7);
        var dir = TestSetup.TempDir("model-dir");
        ModelDirectory.Save(dir, cfg, model);
        Assert.True(File.Exists(Path.Combine(dir, "config.yaml")));
        Assert.True(File.Exists(Path.Combine(dir, "weights.safetensors")));

        var (loadedCfg, loaded) = ModelDirectory.Load(dir, CPU);
        using var _l = loaded;
        Assert.Equal(ConfigLoader.ToYaml(cfg), ConfigLoader.ToYaml(loadedCfg));
        var a = model.state_dict();
        var b = loaded.state_dict();
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys) Assert.True(a[k].dtype == b[k].dtype && a[k].equal(b[k]).all().item<bool>(), k);

        model.eval();
        loaded.eval();
        var (visual, audio) = TinyModels.Inputs();
        using var _ = no_grad();
        Assert.True(model.forward(visual, audio).Context.Multimodal!.equal(loaded.forward(visual, audio).Context.Multimodal!).all().item<bool>());
    }

    [Fact]
    public void Weights_of_another_config_are_refused_naming_the_key_and_both_shapes()
    {
        var cfg = new AvBertConfig { Model = TinyModels.Model(), Data = TinyModels.Data };
        using var model = new AvBertModel(cfg.Model, cfg.Data);
        var dir = TestSetup.TempDir("model-dir-bad");
        ModelDirectory.Save(dir, cfg, model);
        var wider = cfg.Model with { Transformer = cfg.Model.Transformer with { IntermediateSize = 48 } };
        using var other = new AvBertModel(wider, cfg.Data);
        var e = Assert.Throws<UserError>(() => ModelDirectory.LoadWeights(other, Path.Combine(dir, "weights.safetensors")));
        Assert.Contains("intermediate", e.Message);
        Assert.Contains("[32, 4]", e.Message);
        Assert.Contains("[48, 4]", e.Message);
    }

    [Fact]
    public void A_folder_without_the_two_files_is_not_a_model_directory()
    {
        var dir = TestSetup.TempDir("not-a-model");
        var e = Assert.Throws<UserError>(() => ModelDirectory.Load(dir, CPU));
        Assert.Contains("config.yaml", e.Message);
        Assert.Throws<UserError>(() => ModelDirectory.Load(Path.Combine(dir, "missing"), CPU));
    }
}
