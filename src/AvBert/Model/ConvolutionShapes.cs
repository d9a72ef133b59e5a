using AvBert.Config;
using AvBert.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// The convolution shape classes of a model (channels, kernel, stride, padding, dilation, groups of every conv), read
/// from its modules, for the CPU convolution self-check (<see cref="ConvolutionGuard"/>).
/// </summary>
public static class ConvolutionShapes
{
    /// <summary>The distinct classes of the convolutions in <paramref name="module"/> and its submodules.</summary>
    public static IReadOnlyList<ConvShape> Of(nn.Module module) =>
        module.modules().OfType<Convolution>().Select(Shape).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();

    /// <summary>The classes of the model <paramref name="config"/> describes (its CNNs are built on the CPU and dropped).</summary>
    public static IReadOnlyList<ConvShape> For(ModelConfig config)
    {
        using var visual = VisualCnns.Build(config.Visual);
        using var audio = new AudioResNet2D(config.Audio);
        return Of(visual).Concat(Of(audio)).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
    }

    static ConvShape Shape(Convolution c)
    {
        var w = c.weight!.shape;
        long groups = c.groups;
        return new ConvShape((int)(w[1] * groups), (int)w[0], w[2..], c.stride, c.padding!, c.dilation, groups);
    }
}
