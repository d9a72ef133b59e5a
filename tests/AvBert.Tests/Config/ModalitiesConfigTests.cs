using AvBert.Config;

namespace AvBert.Tests.Config;

/// <summary>model.modalities reads and writes the names it always had (audio_visual, visual, audio) although the type is
/// now a [Flags] set shared with the data pipeline.</summary>
public class ModalitiesConfigTests
{
    [Theory]
    [InlineData("audio_visual", Modalities.AudioVisual, "mid")]
    [InlineData("visual", Modalities.Visual, "late")]
    [InlineData("audio", Modalities.Audio, "late")]
    public void The_three_names_load_from_a_file_and_a_set_and_save_as_the_same_text(string name, Modalities expected, string fusion)
    {
        var set = ConfigLoader.Load(null, null, [$"model.modalities={name}", $"model.fusion={fusion}"]);
        Assert.Equal(expected, set.Model.Modalities);
        Assert.Contains($"\n  modalities: {name}\n", ConfigLoader.ToYaml(set));

        var dir = TestSetup.TempDir("modalities");
        var file = Path.Combine(dir, "c.yaml");
        File.WriteAllText(file, $"model:\n  fusion: {fusion}\n  modalities: {name}\n");
        Assert.Equal(expected, ConfigLoader.Load(null, file).Model.Modalities);

        var saved = Path.Combine(dir, "config.yaml");
        ConfigLoader.Save(set, saved);
        Assert.Equal(ConfigLoader.ToYaml(set), ConfigLoader.ToYaml(ConfigLoader.LoadFile(saved)));
    }

    [Fact]
    public void The_default_is_audio_visual_and_is_written_so()
    {
        var c = ConfigLoader.Load();
        Assert.Equal(Modalities.AudioVisual, c.Model.Modalities);
        Assert.Equal(Modalities.Visual | Modalities.Audio, c.Model.Modalities);
        Assert.Contains(("model.modalities", "audio_visual"), ConfigLoader.Flatten(c));
    }

    [Theory]
    [InlineData("visual|audio", "'model.modalities: visual|audio' is not a valid value; expected one of audio_visual, visual, audio.")]
    [InlineData("both", "'model.modalities: both' is not a valid value; expected one of audio_visual, visual, audio.")]
    [InlineData("visual_audio", "'model.modalities: visual_audio' is not a valid value; expected one of audio_visual, visual, audio.")]
    // A number reads as a set of flags: 0 (no stream) and undefined bits are no model.
    [InlineData("0", "'model.modalities: 0' must be one of audio_visual, visual, audio.")]
    [InlineData("4", "'model.modalities: 4' must be one of audio_visual, visual, audio.")]
    public void Other_values_are_refused_with_the_valid_names(string value, string expected)
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, null, [$"model.modalities={value}", "model.fusion=late"]));
        Assert.EndsWith(expected, e.Message);
    }

    [Fact]
    public void One_modality_still_needs_late_fusion()
    {
        var e = Assert.Throws<ConfigError>(() => ConfigLoader.Load(null, null, ["model.modalities=audio"]));
        Assert.EndsWith("'model.modalities: audio' needs model.fusion: late with one modality (model.fusion is mid).", e.Message);
    }
}
