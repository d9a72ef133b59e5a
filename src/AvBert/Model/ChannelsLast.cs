using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// Channels-last memory layout for 3D convolutions (PyTorch's <c>channels_last_3d</c>): the same [N, C, D, H, W] tensor
/// with C varying fastest in memory. cuDNN's fastest 3D kernels (tensor cores, bf16) want this layout; convolutions,
/// batch norm and ReLU keep it, so converting the input once makes the whole CNN run channels-last (the weights are laid
/// out to match inside the convolution). TorchSharp has no <c>memory_format</c> argument: a permute, a contiguous copy and
/// the inverse permute give exactly these strides.
/// </summary>
public static class ChannelsLast
{
    /// <summary>[N, C, D, H, W] → the same values with channels-last-3d strides.</summary>
    public static Tensor Of3d(Tensor x)
    {
        if (x.dim() != 5) throw new ArgumentException("expected [N, C, D, H, W]");
        return x.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3);
    }

    /// <summary>Whether <paramref name="x"/> [N, C, D, H, W] is laid out channels-last (C has stride 1).</summary>
    public static bool Is3d(Tensor x)
    {
        if (x.dim() != 5) return false;
        var st = x.stride();
        long c = x.shape[1], d = x.shape[2], h = x.shape[3], w = x.shape[4];
        return st[1] == 1 && st[4] == c && st[3] == c * w && st[2] == c * w * h && st[0] == c * w * h * d;
    }
}
