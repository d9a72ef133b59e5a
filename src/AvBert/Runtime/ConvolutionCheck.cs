using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Runtime;

/// <summary>
/// One convolution shape class of a model: 2D or 3D, channels, kernel, stride, padding, dilation, groups (no bias: our
/// convolutions have none), and, when known, the spatial (and temporal) size of the input the model gives it
/// (<see cref="Input"/>): oneDNN picks its kernels and blockings by input size too, and some blockings crash (docs/cpu-correctness.md,
/// "Correctness on every CPU"). Without an input size the check picks a small one (<see cref="CheckInputSize"/>).
/// </summary>
public sealed record ConvShape(int InChannels, int OutChannels, long[] Kernel, long[] Stride, long[] Padding, long[] Dilation, long Groups)
{
    public int Dims => Kernel.Length;

    /// <summary>The input's size per convolved dimension at the model's geometry ([T,H,W] or [H,W]); null: not known.</summary>
    public long[]? Input { get; init; }

    /// <summary>A stable text naming the class, e.g. <c>conv3d 3→8 k5×7×7 s2×2×2 p2×3×3 d1×1×1 g1 at 8×112×112</c>; the identity of the class.</summary>
    public string Key => $"conv{Dims}d {InChannels}→{OutChannels} k{X(Kernel)} s{X(Stride)} p{X(Padding)} d{X(Dilation)} g{Groups}" +
                         (Input is null ? "" : $" at {X(Input)}");

    public override string ToString() => Key;

    static string X(long[] v) => string.Join("×", v);

    /// <summary>Multiply-adds one float64 pass of a class may cost; larger classes get a smaller input (about 1 s for the
    /// full model's 53 classes on one core).</summary>
    public const long WorkBudget = 2_000_000;

    /// <summary>
    /// Batch 2 (the failures need a batch above 1) at <see cref="Input"/> when it is known; else a small input: at least 4 frames in time (3D) and 10 in space, and
    /// the kernel covered twice per stride in every dimension; wide classes then shrink (largest dimension first, down to
    /// one output position) until a pass costs at most <see cref="WorkBudget"/> multiply-adds.
    /// </summary>
    public long[] CheckInputSize()
    {
        if (Input is not null)
        {
            // The spatial size as the model gives it (oneDNN picks kernels and blockings by it); a 3D input's depth is cut to
            // what covers the temporal kernel twice per stride, which keeps the float64 reference of the full model affordable.
            var input = (long[])Input.Clone();
            if (Dims == 3) input[0] = Math.Min(input[0], Math.Max((Kernel[0] - 1) * Dilation[0] + 1 - 2 * Padding[0] + 2 * Stride[0], 4));
            return [2, InChannels, .. input];
        }
        var size = new long[2 + Dims];
        size[0] = 2;
        size[1] = InChannels;
        var least = new long[Dims];
        for (int d = 0; d < Dims; d++)
        {
            long span = (Kernel[d] - 1) * Dilation[d] + 1 - 2 * Padding[d];
            least[d] = Math.Max(1, span);
            size[2 + d] = Math.Max(span + 2 * Stride[d], Dims == 3 && d == 0 ? 4 : 10);
        }
        long perOutput = 2L * InChannels / Groups * OutChannels * Kernel.Aggregate(1L, (a, k) => a * k);
        while (perOutput * Outputs(size) > WorkBudget)
        {
            int widest = -1;
            for (int d = 0; d < Dims; d++)
                if (size[2 + d] > least[d] && (widest < 0 || size[2 + d] > size[2 + widest])) widest = d;
            if (widest < 0) break;
            size[2 + widest]--;
        }
        return size;
    }

    long Outputs(long[] size)
    {
        long n = 1;
        for (int d = 0; d < Dims; d++)
            n *= Math.Max(0, (size[2 + d] + 2 * Padding[d] - (Kernel[d] - 1) * Dilation[d] - 1) / Stride[d] + 1);
        return n;
    }
}

/// <summary>The worst disagreement of one shape class with the float64 reference.</summary>
/// <param name="Worst">which result disagreed most: "forward", "input gradient" or "weight gradient"</param>
/// <param name="RelativeError">max|float32 − float64| / max|float64| of that result; +∞ when the float32 one is not finite</param>
public sealed record ConvShapeResult(ConvShape Shape, string Worst, double RelativeError)
{
    public bool Passed => RelativeError <= ConvolutionCheck.Tolerance;

    public string Describe() => double.IsPositiveInfinity(RelativeError)
        ? $"{Shape.Key}: {Worst} not finite"
        : $"{Shape.Key}: {Worst} off by {RelativeError:0.##%}";
}

/// <summary>The outcome of checking a set of shape classes.</summary>
public sealed record ConvCheckResult(IReadOnlyList<ConvShapeResult> Shapes)
{
    public bool Passed => Shapes.All(s => s.Passed);
    public IEnumerable<ConvShapeResult> Failures => Shapes.Where(s => !s.Passed);
    public double WorstError => Shapes.Count == 0 ? 0 : Shapes.Max(s => s.RelativeError);

    /// <summary>The failing classes, worst first, at most three, for a one-line message.</summary>
    public string DescribeFailures()
    {
        var failed = Failures.OrderByDescending(s => s.RelativeError).ToList();
        var text = string.Join("; ", failed.Take(3).Select(s => s.Describe()));
        return failed.Count > 3 ? $"{text}; and {failed.Count - 3} more" : text;
    }
}

/// <summary>
/// Known-answer check of float32 CPU convolutions: for each shape class, forward, input gradient and weight gradient
/// computed in float32 (the path the model runs: oneDNN or ATen's own convolutions, whichever libtorch picks) are
/// compared with the same operation in float64, which oneDNN does not handle (ATen's reference convolution runs).
/// libtorch 2.10's oneDNN (v3.7.1) computes some float32 convolutions wrongly on some AVX-512 CPUs (issue 9); this
/// finds out on the machine at hand. The inputs are drawn from a private generator (the global torch seed is untouched)
/// and are exact in float32, so the float64 result is the true answer for the same numbers.
/// </summary>
public static class ConvolutionCheck
{
    /// <summary>Relative tolerance: float32 rounding gives about 1e-6 here; the failures seen are 10–60 % or NaN.</summary>
    public const double Tolerance = 1e-3;

    /// <summary>Each float32 computation runs this often (one of the failures is not repeatable).</summary>
    public const int Repeats = 2;

    public static ConvCheckResult Run(IEnumerable<ConvShape> shapes) =>
        new(shapes.Select(CheckOne).ToList());

    public static ConvShapeResult CheckOne(ConvShape s)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad(); // the model may be built inside a no_grad region; gradients are enabled below
        using var gen = new Generator(StableSeed(s.Key)); // the same numbers in every process
        var xShape = s.CheckInputSize();
        long fanIn = s.InChannels / s.Groups * s.Kernel.Aggregate(1L, (a, k) => a * k);
        var wShape = new long[] { s.OutChannels, s.InChannels / s.Groups }.Concat(s.Kernel).ToArray();
        var x32 = randn(xShape, float32, generator: gen);
        var w32 = randn(wShape, float32, generator: gen).mul_(1.0 / Math.Sqrt(fanIn));

        var (y64, gx64, gw64, gy) = Compute(s, x32.to(float64), w32.to(float64), null, gen);
        string worst = "forward";
        double error = 0;
        for (int r = 0; r < Repeats; r++)
        {
            var (y, gx, gw, _) = Compute(s, x32, w32, gy.to(float32), gen);
            foreach (var (name, got, want) in new[] { ("forward", y, y64), ("input gradient", gx, gx64), ("weight gradient", gw, gw64) })
            {
                double e = RelativeError(got, want);
                if (e > error || double.IsNaN(e)) (worst, error) = (name, double.IsNaN(e) ? double.PositiveInfinity : e);
            }
        }
        return new ConvShapeResult(s, worst, error);
    }

    /// <summary>Forward, then backward of Σ y·gy; gy is drawn (float64) when null.</summary>
    static (Tensor y, Tensor gx, Tensor gw, Tensor gy) Compute(ConvShape s, Tensor x, Tensor w, Tensor? gy, Generator gen)
    {
        using var grad = enable_grad();
        x = x.detach().requires_grad_();
        w = w.detach().requires_grad_();
        var y = s.Dims == 3
            ? nn.functional.conv3d(x, w, null, s.Stride, s.Padding, s.Dilation, s.Groups)
            : nn.functional.conv2d(x, w, null, s.Stride, s.Padding, s.Dilation, s.Groups);
        gy ??= randn(y.shape, float32, generator: gen).to(float64); // exact in float32 too
        y.backward([gy]);
        return (y.detach(), x.grad!.detach(), w.grad!.detach(), gy);
    }

    /// <summary>FNV-1a of the class key (string.GetHashCode differs between processes).</summary>
    static ulong StableSeed(string key)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in key) h = unchecked((h ^ c) * 1099511628211UL);
        return h & 0xffff_ffff;
    }

    static double RelativeError(Tensor got, Tensor want)
    {
        var g = got.to(float64);
        if (!g.isfinite().all().item<bool>()) return double.PositiveInfinity;
        double scale = want.abs().max().item<double>();
        double diff = (g - want).abs().max().item<double>();
        return diff / Math.Max(scale, 1e-30);
    }
}
