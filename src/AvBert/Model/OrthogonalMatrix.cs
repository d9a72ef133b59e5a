using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;
using static TorchSharp.torch;

namespace AvBert.Model;

/// <summary>
/// An O×O orthogonal matrix trained by autograd through a free parameter (SPEC §6):
/// Σ = base · map(S − Sᵀ), S = the strict upper triangle of <c>a</c>, map = matrix exponential (default) or the Cayley
/// map (I+X)⁻¹(I−X). <c>base</c> is a buffer (the identity unless a checkpoint brings another one), so Σ stays exactly
/// orthogonal whatever the optimiser does to <c>a</c>.
/// </summary>
public sealed class OrthogonalMatrix : Module
{
    readonly Parameter a;      // [O, O] free parameter; only its strict upper triangle is used
    readonly Tensor @base;     // [O, O] buffer
    readonly OrthogonalMap map;

    public int Size { get; }

    public OrthogonalMatrix(int size, OrthogonalMap map = OrthogonalMap.Expm, OrthogonalInit init = OrthogonalInit.Cayley)
        : base(nameof(OrthogonalMatrix))
    {
        Size = size;
        this.map = map;
        a = new Parameter(zeros(size, size));
        @base = eye(size);
        register_parameter("a", a);
        register_buffer("base", @base);
        ResetParameters(init);
    }

    public Parameter A => a;

    /// <summary>
    /// Block-diagonal skew-symmetric start: the first super-diagonal gets d at every other entry (and −d mirrored),
    /// d = −tan(θ/2), θ ~ U(0, π/2) ("cayley") or d = θ ~ U(−π, π) ("henaff"); everything else zero.
    /// </summary>
    public void ResetParameters(OrthogonalInit init)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        int n = Size, pairs = n / 2;
        var values = init switch
        {
            OrthogonalInit.Cayley => -tan(rand(pairs, dtype: float64) * (Math.PI / 2) / 2),
            OrthogonalInit.Henaff => (rand(pairs, dtype: float64) * 2 - 1) * Math.PI,
            _ => throw new ArgumentOutOfRangeException(nameof(init)),
        };
        var start = zeros(n, n, dtype: float64);
        for (int k = 0; k < pairs; k++)
        {
            double d = values[k].item<double>();   // host read: initialisation, not a training step
            start[2 * k, 2 * k + 1] = d;
            start[2 * k + 1, 2 * k] = -d;
        }
        a.copy_(start.to(a.dtype));
        @base.copy_(eye(n, dtype: @base.dtype, device: @base.device));
    }

    /// <summary>Σ [O, O], differentiable with respect to <c>a</c>. Inside a <see cref="Pass"/> it is computed once.</summary>
    public Tensor forward()
    {
        if (pass is not null && pass.TryGetValue(this, out var cached)) return cached;
        if (pass is not null && passOwner is not null && map == OrthogonalMap.Expm && SyncFree(a.device))
        {
            ComputeAll(passOwner);
            if (pass.TryGetValue(this, out cached)) return cached;
        }
        var sigma = Compute();
        if (pass is not null) pass[this] = sigma;
        return sigma;
    }

    // Σ of every matrix used in the current pass (per thread): with cross-layer sharing each Σ serves every layer
    // application, and the matrix exponential's backward is costly (a 2O×2O exponential), so compute it once per pass.
    [ThreadStatic] static Dictionary<OrthogonalMatrix, Tensor>? pass;
    [ThreadStatic] static nn.Module? passOwner;

    /// <summary>
    /// Whether Σ is computed without host reads (<see cref="MatrixExponential.ExpmSyncFree"/>) and batched over a pass's
    /// owner: on accelerators, where each read stalls the queue; on the CPU a read costs nothing and the adaptive
    /// <see cref="MatrixExponential.Expm"/> is cheaper. Tests set <see cref="SyncFreeOnCpu"/> to check the GPU path.
    /// </summary>
    static bool SyncFree(Device device) => device.type != DeviceType.CPU || SyncFreeOnCpu;
    internal static bool SyncFreeOnCpu { get; set; }

    /// <summary>
    /// Until disposed, each Σ is computed once and reused (same values, one autograd node). Nested passes join the
    /// outer one. Use around one forward; do not change <c>a</c> inside a pass.
    /// </summary>
    /// <param name="owner">
    /// Where the sync-free path applies, the first Σ requested computes every exponential-map Σ of this module in one
    /// batched call (all Transformers' Σ at once).
    /// </param>
    public static IDisposable Pass(nn.Module? owner = null)
    {
        if (pass is not null) return NoPass.Instance;
        pass = new Dictionary<OrthogonalMatrix, Tensor>(ReferenceEqualityComparer.Instance);
        passOwner = owner;
        return new PassScope();
    }

    /// <summary>
    /// Until disposed, <paramref name="matrices"/>[i] yields <paramref name="values"/>[i] (a checkpointed layer's
    /// recomputation runs on detached copies of the pass's Σ); the pass active before comes back afterwards.
    /// </summary>
    public static IDisposable Substitute(IReadOnlyList<OrthogonalMatrix> matrices, IReadOnlyList<Tensor> values)
    {
        var (previous, previousOwner) = (pass, passOwner);
        pass = new Dictionary<OrthogonalMatrix, Tensor>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < matrices.Count; i++) pass[matrices[i]] = values[i];
        passOwner = null;
        return new SubstituteScope(previous, previousOwner);
    }

    sealed class SubstituteScope(Dictionary<OrthogonalMatrix, Tensor>? previous, nn.Module? previousOwner) : IDisposable
    {
        public void Dispose()
        {
            pass = previous;
            passOwner = previousOwner;
        }
    }

    sealed class PassScope : IDisposable
    {
        public void Dispose()
        {
            pass = null;
            passOwner = null;
        }
    }

    /// <summary>Σ of every exponential-map matrix of <paramref name="owner"/> not yet in the pass, batched by size, device and dtype.</summary>
    static void ComputeAll(nn.Module owner)
    {
        var todo = owner.modules().OfType<OrthogonalMatrix>().Where(o => o.map == OrthogonalMap.Expm && !pass!.ContainsKey(o))
                        .GroupBy(o => (o.Size, o.a.device.ToString(), o.a.dtype));
        foreach (var batch in todo)
        {
            var list = batch.ToList();
            using var fp32 = Runtime.Autocast.Disabled(list[0].a.device);
            using var scope = NewDisposeScope();
            var skews = stack(list.Select(o => { var upper = o.a.triu(1); return upper - upper.t(); }).ToArray());
            var rotations = MatrixExponential.ExpmSyncFree(skews);
            for (int i = 0; i < list.Count; i++)
                pass![list[i]] = list[i].@base.mm(rotations[i]).MoveToOuterDisposeScope();
        }
    }

    sealed class NoPass : IDisposable
    {
        public static readonly NoPass Instance = new();
        public void Dispose() { }
    }

    Tensor Compute()
    {
        using var fp32 = Runtime.Autocast.Disabled(a.device);   // the map stays in float32 under mixed precision
        using var scope = NewDisposeScope();
        var upper = a.triu(1);
        var skew = upper - upper.t();
        Tensor rotation = map switch
        {
            OrthogonalMap.Expm => SyncFree(a.device) ? MatrixExponential.ExpmSyncFree(skew) : MatrixExponential.Expm(skew),
            OrthogonalMap.Cayley => CayleyMap(skew),
            _ => throw new InvalidOperationException(),
        };
        return @base.mm(rotation).MoveToOuterDisposeScope();
    }

    static Tensor CayleyMap(Tensor skew)
    {
        var id = eye(skew.shape[0], dtype: skew.dtype, device: skew.device);
        return linalg.solve(id + skew, id - skew);
    }
}
