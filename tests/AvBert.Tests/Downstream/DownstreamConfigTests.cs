using AvBert.Config;

namespace AvBert.Tests.Downstream;

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
}
