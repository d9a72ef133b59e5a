using AvBert.Downstream.Probing;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AvBert.Tests.Downstream.Probing;

public class LinearProbeAdamTests
{
    [Fact]
    public void Steps_are_TorchSharps_Adam_to_the_bit()
    {
        var gen = new Generator(31);
        var w0 = randn([4, 6], generator: gen) * 0.1;
        var b0 = randn([4], generator: gen) * 0.1;
        var ours = (W: w0.clone(), B: b0.clone());
        var theirs = (W: new Parameter(w0.clone()), B: new Parameter(b0.clone()));
        using var adam = new LinearProbeAdam(0.01, ours.W, ours.B);
        using var reference = optim.Adam([theirs.W, theirs.B], 0.01);
        for (int step = 0; step < 40; step++)
        {
            // Gradients of every size, zeros included, as a probe's are.
            var gw = randn([4, 6], generator: gen) * Math.Pow(10, -(step % 6)) * (step % 7 == 3 ? 0 : 1);
            var gb = randn([4], generator: gen) * 1e-3;
            adam.Step(gw, gb);
            reference.zero_grad();
            (theirs.W * gw).sum().add((theirs.B * gb).sum()).backward();      // sets their gradients to gw, gb exactly
            reference.step();
            Assert.True(ours.W.eq(theirs.W).all().item<bool>(), $"weights differ after step {step + 1}");
            Assert.True(ours.B.eq(theirs.B).all().item<bool>(), $"biases differ after step {step + 1}");
        }
    }

    [Fact]
    public void Fit_is_the_autograd_and_TorchSharp_Adam_loop_to_the_bit()
    {
        var (x, y) = LinearProbeFoldsTests.Problem(seed: 32, n: 80, d: 12, classes: 3);
        var options = new LinearProbeOptions { Steps = 60, Seed = 3 };
        using var probe = LinearProbe.Fit(x, y, 3, options);

        // The loop Fit ran before it had an Adam of its own.
        var mean = x.mean([0]);
        var std = x.std(0, unbiased: false) + 1e-6f;
        var xs = (x - mean) / std;
        var weight = new Parameter(randn([3, 12], generator: new Generator((ulong)options.Seed)) * 0.01f);
        var bias = new Parameter(zeros(3));
        using var opt = optim.Adam([weight, bias], options.LearningRate);
        for (int step = 0; step < options.Steps; step++)
        {
            opt.zero_grad();
            var loss = nn.functional.cross_entropy(nn.functional.linear(xs, weight, bias), y) + options.WeightDecay * weight.pow(2).sum();
            loss.backward();
            opt.step();
        }
        Assert.True(probe.Parameters.Weight.eq(weight).all().item<bool>());
        Assert.True(probe.Parameters.Bias.eq(bias).all().item<bool>());
    }
}
