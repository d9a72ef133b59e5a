using AvBert.Config;

namespace AvBert.Model.Reference;

/// <summary>
/// Our state-dict names ↔ the authors' (without their "avbert." prefix). Ours read as the paper; theirs follow PySlowFast
/// (s1..s5, branch1/branch2.a/b/c) and Hugging Face BERT/ALBERT (encoder.layer.i / albert_layer_groups.g.albert_layers.j,
/// factor_* for the low-rank weights with ms{i}_linear = V_i, orthogonal_ms{i}_linear = Σ_i, s_linear = U, b).
/// </summary>
public static class ReferenceKeys
{
    static readonly Dictionary<string, string> BlockLeaves = new()
    {
        ["conv1"] = "branch2.a", ["bn1"] = "branch2.a_bn",
        ["conv1_freq"] = "branch2.a1", ["bn1_freq"] = "branch2.a1_bn",
        ["conv1_time"] = "branch2.a2", ["bn1_time"] = "branch2.a2_bn",
        ["conv2"] = "branch2.b", ["bn2"] = "branch2.b_bn",
        ["conv2_freq"] = "branch2.b1", ["bn2_freq"] = "branch2.b1_bn",
        ["conv2_time"] = "branch2.b2", ["bn2_time"] = "branch2.b2_bn",
        ["conv3"] = "branch2.c", ["bn3"] = "branch2.c_bn",
        ["shortcut_conv"] = "branch1", ["shortcut_bn"] = "branch1_bn",
    };

    static readonly Dictionary<string, string> AudioStemLeaves = new()
    {
        ["conv_freq"] = "conv1", ["bn_freq"] = "bn1", ["conv_time"] = "conv2", ["bn_time"] = "bn2",
    };

    /// <summary>The reference name of one of our state-dict keys (throws for a key it does not know).</summary>
    public static string ToReference(string ours, ModelConfig model)
    {
        var p = ours.Split('.');
        string Rest(int from) => string.Join('.', p[from..]);
        switch (p[0])
        {
            case "visual_cnn" when p[1] == "stem":
                return $"visual_conv.s1.pathway0_stem.{Rest(2)}";
            case "visual_cnn" when p[1].StartsWith("stage"):
                return $"visual_conv.s{int.Parse(p[1][5..]) + 1}.pathway0_res{p[2]}.{Leaf(BlockLeaves, p[3], ours)}.{Rest(4)}";
            case "audio_cnn" when p[1] == "stem":
                return $"audio_conv.s1.stem.{Leaf(AudioStemLeaves, p[2], ours)}.{Rest(3)}";
            case "audio_cnn" when p[1].StartsWith("stage"):
                return $"audio_conv.s{int.Parse(p[1][5..]) + 1}.res{p[2]}.{Leaf(BlockLeaves, p[3], ours)}.{Rest(4)}";
            case "visual_projection": return $"visual_fc.{Rest(1)}";
            case "audio_projection": return $"audio_fc.{Rest(1)}";
            case "visual_norm" or "audio_norm": return ours;
            case "bos" when p[1] == "vectors": return $"summary_encoding.bos_embeddings.{Rest(2)}";
            case "bos" when p[1] is "visual_norm" or "audio_norm": return $"summary_encoding.bos_{p[1]}.{Rest(2)}";
            case "visual_embeddings" or "audio_embeddings" or "multimodal_embeddings":
                var prefix = p[0] == "multimodal_embeddings" ? "multi_embeddings" : "single_" + p[0];
                var leaf = p[1] switch
                {
                    "position_embeddings" => "position_embeddings",
                    "modality_embeddings" => "token_type_embeddings",
                    "layer_norm" => "LayerNorm",
                    _ => throw Unknown(ours),
                };
                return $"{prefix}.{leaf}.{Rest(2)}";
        }
        if (p[0] == TransformerSharing.SharedStackName || p[0].EndsWith("_transformer"))
            return StackKey(p, model, ours);
        throw Unknown(ours);
    }

    /// <summary>The reference's name of a weight stack: "transformer" (shared), single_visual_transformer, ...</summary>
    public static string StackName(string ours) => ours switch
    {
        TransformerSharing.SharedStackName => "transformer",
        "multimodal_transformer" => "multi_transformer",
        _ => "single_" + ours,
    };

    static string StackKey(string[] p, ModelConfig model, string ours)
    {
        // <stack>.layers.<k>.<attention|feed_forward>.<weight>.(weight|bias | u.* | private.<t>.(v.weight | sigma.(a|base)))
        if (p.Length < 6 || p[1] != "layers") throw Unknown(ours);
        var t = model.Transformer;
        int k = int.Parse(p[2]);
        bool albert = t.ShareAcrossLayers;
        var layer = albert
            ? $"encoder.albert_layer_groups.{k / t.InnerLayersPerGroup}.albert_layers.{k % t.InnerLayersPerGroup}"
            : $"encoder.layer.{k}";
        bool factorised = p[5] is "u" or "private";
        string F(string name) => factorised ? "factor_" + name : name;
        string module = (p[3], p[4]) switch
        {
            ("attention", "query" or "key" or "value") => albert ? $"attention.{F(p[4])}" : $"attention.self.{F(p[4])}",
            ("attention", "output") => albert ? $"attention.{F("dense")}" : $"attention.output.{F("dense")}",
            ("attention", "layer_norm") => albert ? "attention.LayerNorm" : "attention.output.LayerNorm",
            ("feed_forward", "intermediate") => albert ? F("ffn") : $"intermediate.{F("dense")}",
            ("feed_forward", "output") => albert ? F("ffn_output") : $"output.{F("dense")}",
            ("feed_forward", "layer_norm") => albert ? "full_layer_layer_norm" : "output.LayerNorm",
            _ => throw Unknown(ours),
        };
        string leaf;
        if (!factorised) leaf = string.Join('.', p[5..]);
        else if (p[5] == "u") leaf = "s_linear." + string.Join('.', p[6..]);
        else
        {
            int index = TransformerSharing.TransformersOf(model).ToList().IndexOf(p[6]);
            if (index < 0) throw Unknown(ours);
            leaf = (p[7], p.Length > 8 ? p[8] : "") switch
            {
                ("v", "weight") => $"ms{index}_linear.weight",
                ("sigma", "a") => $"orthogonal_ms{index}_linear.A",
                ("sigma", "base") => $"orthogonal_ms{index}_linear.base",
                _ => throw Unknown(ours),
            };
        }
        return $"{StackName(p[0])}.{layer}.{module}.{leaf}";
    }

    static string Leaf(Dictionary<string, string> map, string ours, string key) => map.TryGetValue(ours, out var r) ? r : throw Unknown(key);

    static InvalidOperationException Unknown(string key) => new($"no reference name for our key '{key}'");
}
