using AvBert.Config;
using AvBert.Synthetic;

namespace AvBert.Tests.Synthetic;

public class ToyAvStreamTests
{
    static readonly ToyAv Toy = new(new ToyAvOptions { NumClasses = 4 },
        ConfigLoader.Load("small", overrides: ["data.sequence_length=2", "data.num_frames=2", "data.test_crop_size=16", "data.train_crop_size=16", "data.train_jitter_scales=[16,16]"]).Data);

    [Fact]
    public void Endless_stream_resumed_at_a_position_yields_the_same_batches()
    {
        var straight = ToyAvStream.Endless(Toy, ToyAvSplit.Train, 3).Take(4).Select(b => (b.Indices, b.Visual.sum().item<float>())).ToList();
        var resumed = ToyAvStream.Endless(Toy, ToyAvSplit.Train, 3, startBatch: 2).Take(2).Select(b => (b.Indices, b.Visual.sum().item<float>())).ToList();
        Assert.Equal(new[] { 6, 7, 8 }, straight[2].Indices);
        Assert.Equal(straight[2].Indices, resumed[0].Indices);
        Assert.Equal(straight[3].Item2, resumed[1].Item2);
    }

    [Fact]
    public void Range_covers_each_video_once_with_a_short_last_batch()
    {
        var indices = ToyAvStream.Range(Toy, ToyAvSplit.Test, 7, 3).Select(b => b.Indices).ToList();
        Assert.Equal(new[] { 3, 3, 1 }, indices.Select(i => i.Length));
        Assert.Equal(Enumerable.Range(0, 7), indices.SelectMany(i => i));
    }
}
