using AvBert.Config;
using AvBert.Model;
using AvBert.Pretraining;
using AvBert.Tests.Training;
using static TorchSharp.torch;

namespace AvBert.Tests.Pretraining;

[Collection(TorchRngCollection.Name)]
public class CppLearningTests
{
    /// <summary>
    /// The whole CPP path (pairing, derangement, masking, Transformers, head, loss) can learn: with the clip outputs as
    /// input it gets most pairs right within 200 steps on a plain signal. (From the BOS outputs the same run stays near
    /// chance for longer: at initialisation their fixed embeddings dominate; see pretrain.cpp_pooling.)
    /// </summary>
    [Fact]
    public void Cpp_learns_a_pairing_that_is_plain_to_see()
    {
        const string pooling = "mean";
                manual_seed(11);
        var c = PretrainerTests.Tiny("pretrain.mep_streams=[]", "pretrain.mask_prob=0.01", $"pretrain.cpp_pooling={pooling}");
        var p = new AvBertPretrainer(new AvBertModel(c.Model, c.Data), c.Model, c.Pretrain);
        using var opt = optim.Adam(p.parameters(), lr: 1e-3);
        var d = c.Data;
        double acc = 0;
        p.train();
        for (int step = 0; step < 200; step++)
        {
            using var scope = NewDisposeScope();
            // Each video has a class k of 3: its frames are bright in colour channel k, its spectrogram in frequency band k.
            var k = randint(3, [16]);
            var v = 0.3 * randn([16, d.SequenceLength, 3, d.NumFrames, d.TrainCropSize, d.TrainCropSize]);
            var a = 0.3 * randn([16, d.SequenceLength, 1, d.AudioFrequency, d.AudioTime]);
            var band = d.AudioFrequency / 3;
            for (int b = 0; b < 16; b++)
            {
                int kb = (int)k[b].item<long>();
                v[b, .., kb] += 2;
                a[b, .., .., (kb * band)..((kb + 1) * band)] += 2;
            }
            opt.zero_grad();
            var losses = p.forward(v, a);
            losses.Total.backward();
            opt.step();
            if (step >= 180) acc += losses.Parts["acc_cpp"].item<float>() / 20;
        }
        // Chance is 0.5; with 3 classes a swapped pair has the same class a third of the time, so the best is about 0.83.
        Assert.True(acc > 0.65, $"CPP accuracy over the last 20 steps: {acc:0.00}");
    }
}
