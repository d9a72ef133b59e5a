using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace AvBert.Tests.Training;

/// <summary>A stand-in model for trainer tests: Linear → LayerNorm → GELU → Dropout → Linear, with a regression loss.</summary>
sealed class TinyNet : Module<Tensor, Tensor>
{
    readonly Linear fc1, fc2;
    readonly LayerNorm norm;
    readonly Dropout drop;

    public TinyNet(int inputs = 4, int hidden = 8, double dropout = 0.2) : base(nameof(TinyNet))
    {
        fc1 = Linear(inputs, hidden);
        norm = LayerNorm(hidden);
        drop = Dropout(dropout);
        fc2 = Linear(hidden, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc2.call(drop.call(functional.gelu(norm.call(fc1.call(x))))).squeeze(-1);

    /// <summary>Deterministic batches: batch i is a function of i only (so any data position can be reopened).</summary>
    public static IEnumerable<(Tensor X, Tensor Y)> Data(long start, int batch = 8, int inputs = 4)
    {
        for (long i = start; ; i++)
        {
            var g = new Generator(1000 + (ulong)i);
            var x = randn([batch, inputs], generator: g);
            var y = x.sum(1).sin();
            yield return (x, y);
        }
    }

    public static AvBert.Training.StepOutput Step(TinyNet net, (Tensor X, Tensor Y) b)
    {
        var pred = net.call(b.X);
        var mse = functional.mse_loss(pred, b.Y);
        var l1 = functional.l1_loss(pred, b.Y);
        return new AvBert.Training.StepOutput(mse, new Dictionary<string, Tensor> { ["loss_mse"] = mse, ["l1"] = l1 }, b.X.shape[0]);
    }
}
