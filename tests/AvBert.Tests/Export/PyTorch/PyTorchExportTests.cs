using System.IO.Compression;
using AvBert.Config;
using AvBert.Export.PyTorch;
using AvBert.Model;
using AvBert.Model.Reference;
using AvBert.Storage;
using AvBert.Tests.Model;
using AvBert.Tests.Model.Reference;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace AvBert.Tests.Export.PyTorch;

/// <summary>
/// `export --format pytorch` (docs/export.md): for every golden (each architecture, fusion and sharing mode `convert`
/// accepts), convert(export(m)) is m bit for bit, and the export holds the keys of the authors' own checkpoint.
/// </summary>
public class PyTorchExportTests(ITestOutputHelper output)
{
    public static TheoryData<string> Goldens()
    {
        var data = new TheoryData<string>();
        foreach (var set in new[] { ReferenceGoldenTests.AudioVisualCases, ReferenceGoldenTests.SingleModalityCases })
            foreach (string n in set) data.Add(n);
        return data;
    }

    static ReferenceImport Golden(string name) =>
        ReferenceCheckpoint.Convert(ReferenceGoldenTests.Golden(name + ".pyth"), ReferenceGoldenTests.Golden(name + ".config.yaml"));

    /// <summary>The golden converted, then exported into a fresh folder.</summary>
    static (ReferenceImport Original, ReferenceExportFiles Files) Exported(string name, string test)
    {
        var original = Golden(name);
        return (original, ReferenceExport.Write(original.Model, original.Config, TestSetup.TempDir($"export-{test}-{name}"), name));
    }

    [Theory]
    [MemberData(nameof(Goldens))]
    public void Convert_of_export_gives_back_every_tensor_bit_for_bit_and_the_config(string name)
    {
        var (original, files) = Exported(name, "pt");
        using var m = original.Model;
        var back = ReferenceCheckpoint.Convert(files.Checkpoint, files.Config, w => output.WriteLine("warning: " + w));
        using var m2 = back.Model;

        var ours = m.state_dict();
        var theirs = m2.state_dict();
        Assert.Equal(ours.Keys.Order(), theirs.Keys.Order());
        foreach (var (k, t) in ours)
        {
            Assert.Equal(t.dtype, theirs[k].dtype);
            Assert.Equal(t.shape, theirs[k].shape);
            Assert.True(t.bytes.SequenceEqual(theirs[k].bytes), $"{name}: '{k}' differs after export → convert");
        }
        Assert.Equal(ConfigLoader.ToYaml(original.Config with { Downstream = new(), Pretrain = new(), Train = new() }),
                     ConfigLoader.ToYaml(back.Config with { Downstream = new(), Pretrain = new(), Train = new() }));

        // The safetensors file is the same state dict under their names without the "avbert." prefix.
        var pyth = ReferenceCheckpoint.ReadStateDict(files.Checkpoint);
        var plain = SafetensorsFile.ReadAll(files.Weights);
        Assert.Equal(pyth.Keys.Order(), plain.Keys.Order());
        foreach (var (k, t) in plain) Assert.True(t.bytes.SequenceEqual(pyth[k].bytes), $"{name}: weights.safetensors '{k}' differs from the checkpoint");
        output.WriteLine($"{name}: {files.Tensors} tensors, {files.Storages} storages, {ours.Count} of ours round-trip bit for bit");
    }

    [Theory]
    [MemberData(nameof(Goldens))]
    public void Export_holds_the_keys_and_values_of_the_authors_checkpoint(string name)
    {
        var (original, files) = Exported(name, "keys");
        using var m = original.Model;
        var golden = ReferenceCheckpoint.ReadStateDict(ReferenceGoldenTests.Golden(name + ".pyth"));
        var exported = ReferenceCheckpoint.ReadStateDict(files.Checkpoint);
        // Their cached Σ (_B) is left out on purpose: their code recomputes it from A and base.
        Assert.Equal(golden.Keys.Where(k => !k.EndsWith("._B")).Order(), exported.Keys.Order());
        bool lowRank = original.Config.Model.Transformer.ShareAcrossTransformers == CrossTransformerSharing.LowRank
                       && TransformerSharing.TransformersOf(original.Config.Model).Count > 1;
        int unused = 0;
        foreach (var (k, t) in exported)
        {
            var g = golden[k];
            Assert.Equal(g.shape, t.shape);
            Assert.Equal(g.dtype, t.dtype);
            if (k.EndsWith("positional_encoding.pe"))
                Assert.True(t.allclose(g, rtol: 0, atol: 1e-6), $"{name}: the sinusoid table differs");
            else if (lowRank && !t.bytes.SequenceEqual(g.bytes) && System.Text.RegularExpressions.Regex.IsMatch(k, @"ms\d_linear\.(weight|A|base)$"))
                unused++;          // a factor set their unshared Transformer builds but never uses (random in the golden)
            else
                Assert.True(t.bytes.SequenceEqual(g.bytes), $"{name}: '{k}' differs from the authors' checkpoint");
        }
        if (lowRank) Assert.True(unused > 0);
        output.WriteLine($"{name}: {exported.Count} keys as theirs ({golden.Count - exported.Count} cached Σ left out), {unused} unused factor tensors");
    }

    [Fact]
    public void The_checkpoint_is_a_torch_save_zip_of_stored_entries_in_one_folder()
    {
        var (original, files) = Exported("mid-partial", "zip");
        using var m = original.Model;
        using var zip = ZipFile.OpenRead(files.Checkpoint);
        Assert.All(zip.Entries, e => Assert.StartsWith("checkpoint/", e.FullName));
        Assert.All(zip.Entries, e => Assert.Equal(e.Length, e.CompressedLength));          // ZIP_STORED
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("checkpoint/data.pkl", names);
        Assert.Contains("checkpoint/version", names);
        Assert.Equal(files.Storages, names.Count(n => n.StartsWith("checkpoint/data/")));
        Assert.True(files.Storages < files.Tensors);       // the shared Transformer's names share storages, as in theirs
        using var version = new StreamReader(zip.GetEntry("checkpoint/version")!.Open());
        Assert.Equal("3\n", version.ReadToEnd());
    }

    [Fact]
    public void Global_mean_pooling_exports_as_the_window_that_covers_the_map()
    {
        var cfg = ReferenceConfig.Load(ReferenceGoldenTests.Golden("mid-partial.config.yaml")).Config;
        var global = cfg with { Model = cfg.Model with { Visual = cfg.Model.Visual with { PoolWindow = [] } } };
        var back = ReferenceConfig.Parse(ReferenceConfigWriter.Write(global, "m"), "m").Config;
        Assert.Equal([2, 4, 4], back.Model.Visual.PoolWindow);       // 4 frames; 112² (train) and 128² (test) crops: 2×4×4 maps
    }

    [Theory]
    [InlineData("small", "model.visual.stage_blocks: [1, 1, 1, 1]")]
    [InlineData("slowfast", "model.visual.arch: slowfast")]
    [InlineData("stem", "model.visual.stem_temporal_kernel: 3")]
    [InlineData("audio-bn", "model.audio.bn_eps: 0.001")]
    [InlineData("strides", "AUDIO_RESNET.STRIDES")]
    [InlineData("odd-global", "model.visual.pool_window: []")]
    public void Models_their_code_cannot_build_are_refused_with_one_line(string what, string says)
    {
        var golden = ReferenceConfig.Load(ReferenceGoldenTests.Golden("mid-partial.config.yaml")).Config;
        var m = golden.Model;
        var cfg = what switch
        {
            "small" => ConfigLoader.Load("small"),
            "slowfast" => golden with { Model = m with { Visual = m.Visual with { Arch = VisualCnnArch.Slowfast } } },
            "stem" => golden with { Model = m with { Visual = m.Visual with { StemTemporalKernel = 3 } } },
            "audio-bn" => golden with { Model = m with { Audio = m.Audio with { BnEps = 1e-3 } } },
            "strides" => golden with { Model = m with { Audio = m.Audio with { Strides = [1, 2, 2, 2] } } },
            _ => golden with { Data = golden.Data with { NumFrames = 7 }, Model = m with { Visual = m.Visual with { PoolWindow = [] } } },
        };
        var e = Assert.ThrowsAny<ConfigError>(() => ReferenceConfigWriter.Write(cfg, "--model M"));
        output.WriteLine(e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("--model M: ", e.Message);
        Assert.Contains(says, e.Message);
    }
}

/// <summary>`avbert export` as a user runs it.</summary>
public class ExportCliTests
{
    [Fact]
    public void Export_of_a_model_their_code_cannot_build_is_one_line_and_exit_code_2()
    {
        var dir = TestSetup.TempDir("export-cli");
        var cfg = ConfigLoader.Load("small");
        using (var model = new AvBertModel(cfg.Model)) ModelDirectory.Save(Path.Combine(dir, "m"), cfg, model);
        var (code, _, err) = AvBert.Tests.Cli.CliExitCodeTests.RunWithOutput(["export", "--model", Path.Combine(dir, "m"), "--format", "pytorch", "--out", Path.Combine(dir, "pt")]);
        Assert.Equal(AvBert.Runtime.ExitCodes.UserError, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: --model ", line);
        Assert.Contains("model.visual.stage_blocks: [1, 1, 1, 1]", line);
        Assert.False(Directory.Exists(Path.Combine(dir, "pt")));
    }
}
