using AvBert.Config;
using AvBert.Runs;

namespace AvBert.Tests.Config;

public class DownstreamConfigTests
{
    [Fact]
    public void Defaults_are_the_reference_protocols()
    {
        var d = ConfigLoader.Load().Downstream;
        Assert.Equal((TransferProtocol.Finetune, 3e-2, 1e-4, 20, LrScheduleKind.Cosine, 10, 3), (d.Visual.Protocol, d.Visual.HeadLr, d.Visual.BackboneLr, d.Visual.Epochs, d.Visual.Schedule, d.Visual.TestClips, d.Visual.TestCrops));
        Assert.Equal((TransferProtocol.Linear, ClassificationLoss.MultiMargin, 0.1, 3e-3, 300, 2.0, 10), (d.Audio.Protocol, d.Audio.Loss, d.Audio.Margin, d.Audio.HeadLr, d.Audio.Epochs, d.Audio.WindowSeconds, d.Audio.TrainSamplesPerVideo));
        Assert.Equal((TransferProtocol.Finetune, 1e-3, 1e-4, 0.5), (d.Audiovisual.Protocol, d.Audiovisual.HeadLr, d.Audiovisual.BackboneLr, d.Audiovisual.Dropout));
        Assert.Equal(ClassificationLoss.BinaryCrossEntropy, d.Multilabel.Loss);
        Assert.Equal((5e-6, 1e-6), (d.WeightDecay, d.AdamEps));
    }

    [Fact]
    public void Task_sections_take_overrides_and_round_trip()
    {
        var c = ConfigLoader.Load(null, null, ["downstream.task=audio", "downstream.audio.epochs=7", "downstream.class_names=[dog, rain]"]);
        Assert.Equal(DownstreamTask.Audio, c.Downstream.Task);
        Assert.Equal(7, c.Downstream.Current.Epochs);
        var dir = TestSetup.TempDir("dcfg");
        ConfigLoader.Save(c, Path.Combine(dir, "config.yaml"));
        var back = ConfigLoader.LoadFile(Path.Combine(dir, "config.yaml"));
        Assert.Equal(["dog", "rain"], back.Downstream.ClassNames);
        Assert.Equal(ConfigLoader.ToYaml(c), ConfigLoader.ToYaml(back));
    }

    [Theory]
    [InlineData("downstream.multilabel.loss=cross_entropy", "'downstream.multilabel.loss: cross_entropy' must be binary_cross_entropy")]
    [InlineData("downstream.visual.loss=binary_cross_entropy", "must be cross_entropy or multi_margin")]
    [InlineData("downstream.audio.test_crops=4", "downstream.audio.test_crops")]
    [InlineData("downstream.task=speech", "expected one of visual, audio, audiovisual, multilabel")]
    public void Bad_downstream_settings_name_the_field(string set, string expected)
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, null, [set]));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void A_run_from_random_init_gets_the_from_scratch_settings_unless_the_user_sets_them()
    {
        var scratch = AvBert.Runs.FinetuneRun.UserConfig("small", null, ["downstream.task=audio"], randomInit: true);
        Assert.Equal((0.3, 0.3), (scratch.Model.Visual.BnMomentum, scratch.Model.Audio.BnMomentum));
        Assert.Equal((TransferProtocol.Finetune, 1e-2, 1e-3), (scratch.Downstream.Audio.Protocol, scratch.Downstream.Audio.HeadLr, scratch.Downstream.Audio.BackboneLr));
        Assert.Equal((3e-2, 1e-3), (scratch.Downstream.Visual.HeadLr, scratch.Downstream.Visual.BackboneLr));
        Assert.Equal(8, scratch.Downstream.Visual.Epochs);                                   // the preset still applies
        var line = AvBert.Runs.FinetuneRun.FromScratchLine(scratch);
        Assert.Contains("BatchNorm momentum 0.3/0.3", line);
        Assert.Contains("audio protocol finetune, lr head 0.01 / backbone 0.001", line);
        Assert.Contains("--set", line);

        // A pretrained start keeps the paper's protocol; the user's file and --set win over the from-scratch settings.
        var pretrained = AvBert.Runs.FinetuneRun.UserConfig("small", null, ["downstream.task=audio"], randomInit: false);
        Assert.Equal((0.1, TransferProtocol.Linear, 1e-4), (pretrained.Model.Audio.BnMomentum, pretrained.Downstream.Audio.Protocol, pretrained.Downstream.Audio.BackboneLr));
        var file = Path.Combine(TestSetup.TempDir("scratch-cfg"), "my.yaml");
        File.WriteAllText(file, "downstream:\n  audio:\n    head_lr: 0.005\n");
        var mine = AvBert.Runs.FinetuneRun.UserConfig("small", file, ["model.audio.bn_momentum=0.1", "downstream.audio.protocol=linear"], randomInit: true);
        Assert.Equal((0.1, 0.3), (mine.Model.Audio.BnMomentum, mine.Model.Visual.BnMomentum));
        Assert.Equal((TransferProtocol.Linear, 0.005), (mine.Downstream.Audio.Protocol, mine.Downstream.Audio.HeadLr));
    }

    [Fact]
    public void Sequence_test_clips_must_fit_the_position_table()
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, null, ["downstream.task=audiovisual", "downstream.audiovisual.test_clips=22"]));
        Assert.Contains("downstream.audiovisual.test_clips", e.Message);
        Assert.Contains("max_positions", e.Message);
        Assert.Equal(4, ConfigLoader.Load("small").Downstream.Audiovisual.TestClips);        // the small preset tests as it trains: 4 clips
    }
}
