using AvBert.Config;
using System.CommandLine;

namespace AvBert.Cli.Commands;

public static class ConfigCommand
{
    public static Command Build()
    {
        var opts = new ConfigOptions();
        var c = new Command("config", "Print the resolved configuration (defaults ← --preset ← --config ← --set) as YAML");
        opts.AddTo(c);
        c.SetAction(r =>
        {
            Console.Write(ConfigLoader.ToYaml(opts.Load(r)));
            return 0;
        });
        return c;
    }
}
