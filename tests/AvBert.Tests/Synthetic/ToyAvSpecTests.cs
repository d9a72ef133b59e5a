using AvBert.Config;
using AvBert.Runtime;
using AvBert.Synthetic;

namespace AvBert.Tests.Synthetic;

public class ToyAvSpecTests
{
    static readonly AvBertConfig Small = ConfigLoader.Load("small");

    [Fact]
    public void Toy_av_specs_become_datasets_with_the_configs_clip_geometry()
    {
        var plain = ToyAvClipDataset.FromSpec("toy-av", Small)!;
        Assert.Equal(ToyAvClipDataset.DefaultVideosPerEpoch, plain.Count);
        Assert.Equal(Small.Data.SequenceLength, plain.Data.Clips);
        Assert.Equal(Small.Data.TestCropSize, plain.Data.FrameSize);
        Assert.Equal(300, ToyAvClipDataset.FromSpec("toy-av:300", Small)!.Count);
    }

    [Fact]
    public void Other_specs_are_left_to_the_file_sources()
    {
        Assert.Null(ToyAvClipDataset.FromSpec("/data/videos", Small));
        Assert.Null(ToyAvClipDataset.FromSpec("toy-avi/clips.csv", Small));
    }

    [Theory]
    [InlineData("toy-av:")]
    [InlineData("toy-av:0")]
    [InlineData("toy-av:many")]
    public void A_bad_count_is_an_error_naming_the_spec(string spec)
    {
        var e = Assert.Throws<UserError>(() => ToyAvClipDataset.FromSpec(spec, Small));
        Assert.Contains(spec, e.Message);
    }
}
