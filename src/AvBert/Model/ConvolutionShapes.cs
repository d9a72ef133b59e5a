using System.Collections.Concurrent;
using AvBert.Config;
using AvBert.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// The convolution shape classes of a model (channels, kernel, stride, padding, dilation, groups of every conv), read
/// from its modules, with the input size each convolution sees at a given clip size: what the CPU convolution self-check
/// proves (<see cref="ConvolutionGuard"/>).
/// </summary>
public static class ConvolutionShapes
{
    /// <summary>The distinct classes of the convolutions in <paramref name="module"/> and its submodules (no input sizes).</summary>
    public static IReadOnlyList<ConvShape> Of(nn.Module module) =>
        module.modules().OfType<Convolution>().Select(Shape).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();

    /// <summary>The classes of the model <paramref name="config"/> describes, at the input sizes of <paramref name="data"/>'s
    /// clips: the visual CNN at the training and the test crop, the audio CNN at its log-mel size (the CNNs are built on
    /// the CPU and dropped).</summary>
    public static IReadOnlyList<ConvShape> For(ModelConfig config, DataConfig data)
    {
        var shapes = new List<ConvShape>();
        if (config.Modalities != Modalities.Audio)
        {
            using var visual = VisualCnns.Build(config.Visual);
            foreach (var crop in new[] { data.TrainCropSize, data.TestCropSize }.Distinct())
                shapes.AddRange(Visual(visual, config.Visual, [3, data.NumFrames, crop, crop]));
        }
        if (config.Modalities != Modalities.Visual)
        {
            using var audio = new AudioResNet2D(config.Audio);
            shapes.AddRange(Audio(audio, config.Audio, [1, data.AudioFrequency, data.AudioTime]));
        }
        return shapes.DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
    }

    static readonly ConcurrentDictionary<string, IReadOnlyList<long[]>> InputSizes = new();

    /// <summary>The classes of <paramref name="cnn"/> (a visual CNN built from <paramref name="config"/>) for clips of
    /// <paramref name="clip"/> = [3, F, H, W].</summary>
    public static IReadOnlyList<ConvShape> Visual(nn.Module cnn, VisualCnnConfig config, long[] clip) =>
        WithInputs(cnn, Sizes("v", config, clip, () => VisualCnns.Build(config with
        {
            WidthPerGroup = config.Arch == VisualCnnArch.Slowfast ? config.Slowfast.BetaInv : 2,
        })));

    /// <summary>The classes of <paramref name="cnn"/> (an audio CNN built from <paramref name="config"/>) for log-mel clips
    /// of <paramref name="clip"/> = [1, FREQ, TIME].</summary>
    public static IReadOnlyList<ConvShape> Audio(nn.Module cnn, AudioCnnConfig config, long[] clip) =>
        WithInputs(cnn, Sizes("a", config, clip, () => new AudioResNet2D(config with { WidthPerGroup = 2 })));

    static IReadOnlyList<ConvShape> WithInputs(nn.Module cnn, IReadOnlyList<long[]> sizes)
    {
        var convs = cnn.modules().OfType<Convolution>().ToList();
        if (convs.Count != sizes.Count)
            throw new InvalidOperationException($"the CNN has {convs.Count} convolutions but its narrow copy {sizes.Count}");
        return convs.Select((c, i) => Shape(c) with { Input = sizes[i] }).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// The input size of each convolution, in module order, for one clip: read by running a narrow copy of the CNN (the same
    /// layers with a few channels each: sizes do not depend on widths) once in float64, which oneDNN does not handle, so
    /// that no convolution path this CPU has not yet proven runs.
    /// </summary>
    static IReadOnlyList<long[]> Sizes(string stream, object config, long[] clip, Func<nn.Module<Tensor, Tensor>> buildNarrow) =>
        InputSizes.GetOrAdd($"{stream} {System.Text.Json.JsonSerializer.Serialize(config)} {string.Join("x", clip)}", _ =>
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            using var narrow = buildNarrow();
            narrow.to(float64);
            narrow.eval();
            var convs = narrow.modules().OfType<Convolution>().ToList();
            var sizes = new long[convs.Count][];
            var hooks = convs.Select((c, i) => c.register_forward_pre_hook((m, x) =>
            {
                sizes[i] = x.shape[2..];
                return x;
            })).ToList();
            try { narrow.call(zeros([1, .. clip], float64)); }
            finally { foreach (var h in hooks) h.remove(); }
            if (sizes.Any(s => s is null)) throw new InvalidOperationException("a convolution of the CNN did not run on one clip");
            return sizes;
        });

    static ConvShape Shape(Convolution c)
    {
        var w = c.weight!.shape;
        long groups = c.groups;
        return new ConvShape((int)(w[1] * groups), (int)w[0], w[2..], c.stride, c.padding!, c.dilation, groups);
    }
}
