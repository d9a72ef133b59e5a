using AvBert.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Model;

/// <summary>The private part of a low-rank linear for one Transformer: V (N→O, no bias) and the orthogonal Σ (O×O).</summary>
public sealed class LowRankFactor : Module
{
    readonly Linear v;
    readonly OrthogonalMatrix sigma;

    public LowRankFactor(int inFeatures, int rank, OrthogonalMap map, OrthogonalInit init) : base(nameof(LowRankFactor))
    {
        v = Linear(inFeatures, rank, hasBias: false);
        sigma = new OrthogonalMatrix(rank, map, init);
        RegisterComponents();
    }

    public Linear V => v;
    public OrthogonalMatrix Sigma => sigma;
}

/// <summary>
/// The paper's partially shared linear (SPEC §6): y = U·(normalize(V_iᵀx)·Σ_i) + b, normalize = L2 over the O dims.
/// U (O→M) and b are shared (<c>u</c>); every Transformer i that uses this weight has its own V_i and Σ_i under
/// <c>private.&lt;transformer&gt;</c>. The weight holder itself has no forward: each Transformer runs it through
/// <see cref="For"/>, a view bound once to its private factors.
/// </summary>
public sealed class LowRankSharedLinear : Module
{
    readonly Linear u;
    readonly NamedModules<LowRankFactor> @private;

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public int Rank { get; }

    public LowRankSharedLinear(int inFeatures, int outFeatures, int rank, IReadOnlyList<string> transformers,
                               OrthogonalMap map = OrthogonalMap.Expm, OrthogonalInit init = OrthogonalInit.Cayley)
        : base(nameof(LowRankSharedLinear))
    {
        if (transformers.Count == 0) throw new ArgumentException("at least one Transformer must use the weight", nameof(transformers));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Rank = rank;
        @private = new NamedModules<LowRankFactor>(transformers.Select(t => (t, new LowRankFactor(inFeatures, rank, map, init))));
        u = Linear(rank, outFeatures);
        register_module("private", @private);
        register_module("u", u);
    }

    public Linear U => u;
    public IReadOnlyList<string> Transformers => @private.Names;
    public LowRankFactor Factor(string transformer) =>
        @private.TryGet(transformer, out var f) ? f
            : throw new ArgumentException($"no private factors for Transformer '{transformer}' (have: {string.Join(", ", @private.Names)})");

    /// <summary>A module computing this linear with <paramref name="transformer"/>'s private V and Σ. It owns nothing.</summary>
    public Module<Tensor, Tensor> For(string transformer) => new View(this, Factor(transformer));

    sealed class View : Module<Tensor, Tensor>
    {
        readonly (LowRankSharedLinear Shared, LowRankFactor Factor) refs;   // a tuple: not registered, the holder owns them

        public View(LowRankSharedLinear shared, LowRankFactor factor) : base("LowRankLinearView") => refs = (shared, factor);

        public override Tensor forward(Tensor x)
        {
            // x [..., N] → V x [..., O] → normalise → ·Σ [..., O] → U·+b [..., M]
            var h = functional.normalize(refs.Factor.V.call(x), p: 2, dim: -1, eps: 1e-12);
            return refs.Shared.U.call(h.matmul(refs.Factor.Sigma.forward()));
        }
    }
}
