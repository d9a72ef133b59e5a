using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

[Collection(AvBert.Tests.Training.TorchRngCollection.Name)]
public class ChannelsLastTests
{
    [Fact]
    public void Channels_last_layout_keeps_the_values_and_has_channel_stride_one()
    {
        var x = randn([2, 3, 4, 5, 6]);
        var cl = ChannelsLast.Of3d(x);
        Assert.True(ChannelsLast.Is3d(cl));
        Assert.False(ChannelsLast.Is3d(x));
        Assert.Equal(x.shape, cl.shape);
        Assert.True(cl.equal(x).all().item<bool>());
    }

    [Fact]
    public void Channels_last_forward_and_backward_equal_the_contiguous_ones()
    {
        manual_seed(4);
        var model = TinyModels.Build();
        var (v, _) = TinyModels.Inputs();
        var clips = v.flatten(0, 1);                          // [B·T, 3, F, H, W]
        var cnn = model.modules().OfType<VisualResNet3D>().Single();
        cnn.train();

        Tensor Run(bool channelsLast, out Tensor[] grads)
        {
            cnn.UseChannelsLast = channelsLast;
            foreach (var p in cnn.parameters()) p.grad = null;
            manual_seed(1);
            var map = cnn.FeatureMap(clips);
            Assert.Equal(channelsLast, ChannelsLast.Is3d(map)); // the layout carries through the whole CNN
            var pooled = map.mean([2L, 3L, 4L]);
            pooled.pow(2).sum().backward();
            grads = cnn.parameters().Select(p => p.grad!.clone()).ToArray();
            return pooled.detach();
        }

        var contiguous = Run(false, out var g0);
        var channelsLast = Run(true, out var g1);
        Assert.True(channelsLast.allclose(contiguous, rtol: 1e-4, atol: 1e-5), $"max diff {(channelsLast - contiguous).abs().max().item<float>():g3}");
        foreach (var (a, b) in g1.Zip(g0)) Assert.True(a.allclose(b, rtol: 1e-3, atol: 1e-4));
    }
}
