using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// The matrix exponential by scaling and squaring with a Padé approximant of order 3, 5 or 7, chosen as the authors'
/// expRNN code does (a port of SciPy's expm, Al-Mohy &amp; Higham 2009, with float32's unit roundoff 2⁻²⁴ and the
/// entrywise 1-norm of their <c>torch.norm(A, 1)</c>). Built from matmuls and one solve, so autograd gives the
/// derivative. For an O×O matrix it costs a handful of products — libtorch's <c>linalg.matrix_exp</c> is about 100×
/// slower on the CPU at O = 128, and its backward slower still.
/// </summary>
public static class MatrixExponential
{
    const double Theta3 = 4.2587300348979312e-001, Theta5 = 1.8801526985337688e+000, Theta7 = 3.9257248464332842e+000;

    public static Tensor Expm(Tensor a)
    {
        if (a.dim() != 2 || a.shape[0] != a.shape[1]) throw new ArgumentException("expected a square matrix");
        if (a.shape[0] == 1) return a.exp();
        using var scope = NewDisposeScope();
        var ident = eye(a.shape[0], dtype: a.dtype, device: a.device);
        Tensor a2 = a.mm(a), a4 = a2.mm(a2), a6 = a4.mm(a2);
        Tensor? a8 = null;
        Tensor A8() => a8 ??= a6.mm(a2);
        double d4, d6;
        using (no_grad())
        {
            d4 = Math.Pow(EntrywiseOneNorm(a4), 1 / 4.0);
            d6 = Math.Pow(EntrywiseOneNorm(a6), 1 / 6.0);
        }

        Tensor result;
        if (Math.Max(d4, d6) < Theta3 && Ell(a, 3) == 0)
        {
            double[] b = [120, 60, 12, 1];
            var u = a.mm(b[3] * a2 + b[1] * ident);
            var v = b[2] * a2 + b[0] * ident;
            result = SolvePQ(u, v);
        }
        else if (Math.Max(d4, d6) < Theta5 && Ell(a, 5) == 0)
        {
            double[] b = [30240, 15120, 3360, 420, 30, 1];
            var u = a.mm(b[5] * a4 + b[3] * a2 + b[1] * ident);
            var v = b[4] * a4 + b[2] * a2 + b[0] * ident;
            result = SolvePQ(u, v);
        }
        else
        {
            double d8;
            using (no_grad()) d8 = Math.Pow(EntrywiseOneNorm(A8()), 1 / 8.0);
            double eta3 = Math.Max(d6, d8);
            int s = Math.Max((int)Math.Ceiling(Math.Log2(eta3 / Theta7)), 0);
            s += Ell(a * Math.Pow(2, -s), 7);
            double[] b = [17297280, 8648640, 1995840, 277200, 25200, 1512, 56, 1];
            var bb = a * Math.Pow(2, -s);
            var b2 = a2 * Math.Pow(2, -2 * s);
            var b4 = a4 * Math.Pow(2, -4 * s);
            var b6 = a6 * Math.Pow(2, -6 * s);
            var u = bb.mm(b[7] * b6 + b[5] * b4 + b[3] * b2 + b[1] * ident);
            var v = b[6] * b6 + b[4] * b4 + b[2] * b2 + b[0] * ident;
            result = SolvePQ(u, v);
            for (int i = 0; i < s; i++) result = result.mm(result);       // X^(2^s)
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Squarings the sync-free exponential can apply: covers 1-norm-like sizes up to θ₇·2¹⁶ ≈ 2.6·10⁵.</summary>
    public const int MaxSquarings = 16;

    /// <summary>
    /// The matrix exponential of a batch [k, n, n] (or one [n, n] matrix) without reading anything back to the host, for
    /// GPUs where each <c>.item()</c> stalls the launch queue: always the order-7 Padé approximant, with the scaling s
    /// chosen per matrix on the device by the same rule as <see cref="Expm"/>'s order-7 branch (η = max(d₆, d₈),
    /// s = ⌈log₂(η/θ₇)⌉⁺ + ell), capped at <see cref="MaxSquarings"/>; all squarings are computed and each matrix keeps
    /// the first s of them. Where <see cref="Expm"/> would pick order 3 or 5 (small norms) this is at least as accurate.
    /// </summary>
    public static Tensor ExpmSyncFree(Tensor a)
    {
        if (a.dim() == 2) return ExpmSyncFree(a.unsqueeze(0)).squeeze(0);
        if (a.dim() != 3 || a.shape[1] != a.shape[2]) throw new ArgumentException("expected square matrices [k, n, n]");
        using var scope = NewDisposeScope();
        long n = a.shape[1];
        var ident = eye(n, dtype: a.dtype, device: a.device).expand(a.shape[0], n, n);
        Tensor a2 = a.matmul(a), a4 = a2.matmul(a2), a6 = a4.matmul(a2);
        Tensor s;
        using (no_grad())
        {
            var a8 = a6.matmul(a2);
            var eta = maximum(BatchOneNorm(a6).pow(1 / 6.0), BatchOneNorm(a8).pow(1 / 8.0));
            s = (eta / Theta7).log2().ceil().clamp_min(0);                              // [k]
            s = (s + EllBatch(a * exp2(-s).view(-1, 1, 1), 7)).clamp_max(MaxSquarings);
        }
        double[] b = [17297280, 8648640, 1995840, 277200, 25200, 1512, 56, 1];
        var scale = exp2(-s).view(-1, 1, 1).to(a.dtype);
        var scale2 = scale * scale;
        var scale4 = scale2 * scale2;
        var bb = a * scale;
        var b2 = a2 * scale2;
        var b4 = a4 * scale4;
        var b6 = a6 * (scale4 * scale2);
        var u = bb.matmul(b[7] * b6 + b[5] * b4 + b[3] * b2 + b[1] * ident);
        var v = b[6] * b6 + b[4] * b4 + b[2] * b2 + b[0] * ident;
        var result = linalg.solve(v - u, v + u);
        for (int i = 0; i < MaxSquarings; i++)
            result = where((s > i).view(-1, 1, 1), result.matmul(result), result);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Entrywise 1-norm of each matrix of [k, n, n] → [k] (float64).</summary>
    static Tensor BatchOneNorm(Tensor a) => a.abs().sum([-2, -1]).to(float64);

    /// <summary><see cref="Ell"/> for each matrix of [k, n, n] on the device → [k] (float64).</summary>
    static Tensor EllBatch(Tensor a, int m)
    {
        int p = 2 * m + 1;
        double absCRecip = Binomial(2 * p, p) * Factorial(2 * p + 1);
        const double u = 1.0 / (1 << 24);
        var abs = a.abs();
        var v = ones(a.shape[0], a.shape[1], 1, dtype: a.dtype, device: a.device);
        var mt = abs.transpose(1, 2);
        for (int i = 0; i < p; i++) v = mt.matmul(v);
        var powerNorm = v.amax([-2, -1]).to(float64);
        var alpha = powerNorm / (BatchOneNorm(a) * absCRecip);
        var ell = ((alpha / u).log2() / (2 * m)).ceil().clamp_min(0);
        return where(powerNorm == 0, zeros_like(ell), ell);
    }

    /// <summary>(V − U)⁻¹ (V + U).</summary>
    static Tensor SolvePQ(Tensor u, Tensor v) => linalg.solve(v - u, v + u);

    /// <summary>The reference's "_onenorm": torch.norm(A, 1), the sum of |a_ij|.</summary>
    static double EntrywiseOneNorm(Tensor a) => a.abs().sum().to(float64).item<double>();   // host read: the CPU path (accelerators use ExpmSyncFree)

    /// <summary>Extra squarings for the order-m approximant (SciPy's _ell, with float32's unit roundoff).</summary>
    static int Ell(Tensor a, int m)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int p = 2 * m + 1;
        double absCRecip = Binomial(2 * p, p) * Factorial(2 * p + 1);
        const double u = 1.0 / (1 << 24);
        // 1-norm of |A|^p: max entry of (|A|ᵀ)^p · 1.
        var abs = a.abs();
        var v = ones(a.shape[0], 1, dtype: a.dtype, device: a.device);
        var mt = abs.t();
        for (int i = 0; i < p; i++) v = mt.mm(v);
        double powerNorm = v.max().to(float64).item<double>();   // host read: the CPU path (accelerators use ExpmSyncFree)
        if (powerNorm == 0) return 0;
        double alpha = powerNorm / (EntrywiseOneNorm(a) * absCRecip);
        return Math.Max((int)Math.Ceiling(Math.Log2(alpha / u) / (2 * m)), 0);
    }

    static double Binomial(int n, int k)
    {
        double r = 1;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return Math.Round(r);
    }

    static double Factorial(int n)
    {
        double r = 1;
        for (int i = 2; i <= n; i++) r *= i;
        return r;
    }
}
