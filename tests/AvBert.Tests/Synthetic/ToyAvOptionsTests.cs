using AvBert.Config;
using AvBert.Runtime;
using AvBert.Synthetic;

namespace AvBert.Tests.Synthetic;

public class ToyAvOptionsTests
{
    [Fact]
    public void Toy_overrides_parse_numbers_lists_and_booleans()
    {
        var o = ToyAvOptionsParser.Apply(new ToyAvOptions(), ["distractors=2", "object_size=[0.2, 0.3]", "per_clip_nuisance=false", "audio_noise=0.01"]);
        Assert.Equal(2, o.Distractors);
        Assert.Equal([0.2, 0.3], o.ObjectSize);
        Assert.False(o.PerClipNuisance);
        Assert.Equal(0.01, o.AudioNoise);
        Assert.Equal(1, new ToyAvOptions().Distractors); // the record the overrides started from is untouched
    }

    [Fact]
    public void Toy_overrides_refuse_unknown_keys_bad_values_and_impossible_settings()
    {
        Assert.Contains("unknown key 'distractor'", Assert.Throws<UserError>(() => ToyAvOptionsParser.Apply(new(), ["distractor=1"])).Message);
        Assert.Contains("not a valid integer", Assert.Throws<UserError>(() => ToyAvOptionsParser.Apply(new(), ["distractors=x"])).Message);
        Assert.Contains("sounding_glow 1.5", Assert.Throws<UserError>(() => ToyAvOptionsParser.Apply(new(), ["sounding_glow=1.5"])).Message);
        Assert.Contains("offscreen_sounds", Assert.Throws<UserError>(() => ToyAvOptionsParser.Apply(new(), ["num_classes=3", "distractors=2"])).Message);
    }

    [Fact]
    public void Clip_dataset_loads_model_sized_samples_and_fresh_videos_each_epoch()
    {
        var data = ConfigLoader.Load("small", overrides: ["data.sequence_length=2", "data.num_frames=2", "data.test_crop_size=16",
                                                          "data.train_crop_size=16", "data.train_jitter_scales=[16,16]"]).Data;
        var toy = new ToyAv(new ToyAvOptions { NumClasses = 4 }, data);
        var fresh = new ToyAvClipDataset(toy, ToyAvSplit.Train, count: 5, freshEachEpoch: true, firstIndex: 10);
        var s = fresh.Load(1, seed: 0, epoch: 0, CancellationToken.None);
        Assert.Equal(new long[] { 2, 3, 2, 16, 16 }, s.VisualShape);
        Assert.Equal(2 * 3 * 2 * 16 * 16, s.VisualInput!.Length);          // rendered in floats: model input as it is
        Assert.Equal(new long[] { 2, 1, data.AudioFrequency, data.AudioTime }, s.AudioShape);
        Assert.Equal(toy.Label(ToyAvSplit.Train, 11), s.Labels.Single());
        Assert.Equal(toy.Label(ToyAvSplit.Train, 16), fresh.Load(1, 0, epoch: 1, CancellationToken.None).Labels.Single());
        var fixedSet = new ToyAvClipDataset(toy, ToyAvSplit.Train, count: 5, firstIndex: 10);
        Assert.Equal(fixedSet.Load(1, 0, 0, CancellationToken.None).Visual, fixedSet.Load(1, 0, 7, CancellationToken.None).Visual);
    }
}
