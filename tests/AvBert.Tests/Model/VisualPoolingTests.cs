using AvBert.Model;
using static TorchSharp.torch;

namespace AvBert.Tests.Model;

/// <summary>The reference's visual head: average over a window at stride 1, then over what remains.</summary>
public class VisualPoolingTests
{
    [Fact]
    public void A_window_smaller_than_the_map_weights_the_middle_positions_more()
    {
        // A 4-step map [1, 0, 0, 0] under a 3-step window: windows average 1/3 and 0, their mean is 1/6 (the global mean is 1/4).
        using var map = tensor(new float[] { 1, 0, 0, 0 }).reshape([1, 1, 4, 1, 1]);
        Assert.Equal(1.0 / 6, VisualResNet3D.Pool(map, [3, 1, 1]).item<float>(), 6);
        Assert.Equal(0.25, VisualResNet3D.Pool(map, []).item<float>(), 6);
        // 2-D: a 3×3 map with 1 in a corner under a 2×2 window: one of four windows holds it (1/4), mean 1/16.
        using var corner = zeros([1, 1, 1, 3, 3]);
        corner[0, 0, 0, 0, 0] = tensor(1f);
        Assert.Equal(1.0 / 16, VisualResNet3D.Pool(corner, [1, 2, 2]).item<float>(), 6);
    }

    [Fact]
    public void A_window_covering_the_map_or_larger_is_the_global_mean()
    {
        using var map = randn([2, 3, 4, 2, 2]);
        var mean = map.mean([2L, 3L, 4L]);
        Assert.True(VisualResNet3D.Pool(map, [4, 2, 2]).allclose(mean, 1e-6, 1e-6));
        Assert.True(VisualResNet3D.Pool(map, [16, 4, 4]).allclose(mean, 1e-6, 1e-6));
    }
}
