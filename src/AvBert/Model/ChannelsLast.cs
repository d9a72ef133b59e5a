using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// Channels-last memory layout for 3D convolutions (PyTorch's <c>channels_last_3d</c>): the same [N, C, D, H, W] tensor
/// with C varying fastest in memory. cuDNN's fastest 3D kernels (tensor cores, bf16) want this layout; convolutions,
/// batch norm and ReLU keep it, so converting the input once makes the whole CNN run channels-last. The convolution
/// weights are laid out the same way once (<see cref="Prepare"/>); otherwise cuDNN copies every weight to the
/// activations' layout in each forward and its gradient back in each backward. TorchSharp has no <c>memory_format</c>
/// argument: a permute, a contiguous copy and the inverse permute give exactly these strides.
/// </summary>
public static class ChannelsLast
{
    /// <summary>[N, C, D, H, W] → the same values with channels-last-3d strides.</summary>
    public static Tensor Of3d(Tensor x)
    {
        if (x.dim() != 5) throw new ArgumentException("expected [N, C, D, H, W]");
        return x.permute(0, 2, 3, 4, 1).contiguous().permute(0, 4, 1, 2, 3);
    }

    /// <summary>
    /// Where the visual CNN runs channels-last unless told (<see cref="VisualResNet3D.UseChannelsLast"/>): on CUDA. On the
    /// CPU the contiguous layout is kept (oneDNN picks its own blocked layout either way; docs/performance-and-gpu.md).
    /// </summary>
    public static bool ByDefault(Device device) => device.type == DeviceType.CUDA;

    /// <summary>
    /// For a model on its device, before its optimiser is built (the optimiser's flat buffer keeps each weight's layout):
    /// the 3D convolution weights of every visual CNN that runs channels-last are laid out channels-last, in place, with
    /// the same values. Weight files and checkpoints do not change: they are written contiguous and read by copying.
    /// Returns how many weights were converted.
    /// </summary>
    public static int Prepare(nn.Module model, Device device)
    {
        int converted = 0;
        using var _ = no_grad();
        foreach (var cnn in model.modules().OfType<VisualResNet3D>().Prepend(model as VisualResNet3D).OfType<VisualResNet3D>())
        {
            if (!(cnn.UseChannelsLast ?? ByDefault(device))) continue;
            foreach (var p in cnn.parameters())
                if (p.dim() == 5 && !Is3d(p))
                {
                    p.set_(Of3d(p));
                    converted++;
                }
        }
        return converted;
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
