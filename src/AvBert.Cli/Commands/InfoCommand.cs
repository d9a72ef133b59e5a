using AvBert.Runs;
using System.CommandLine;

namespace AvBert.Cli.Commands;

public static class InfoCommand
{
    public static Command Build()
    {
        var c = new Command("info", "Show the torch build, the devices, whether the libstdc++ fix was applied, this CPU's cache topology and convolution path; --check runs the CPU convolution self-check for the configured model");
        var config = new ConfigOptions();
        config.AddTo(c);
        var check = new Option<bool>("--check") { Description = "Run the CPU convolution self-check for the configured model (--preset/--config/--set) at its clip sizes" };
        c.Options.Add(check);
        c.SetAction(r =>
        {
            foreach (var (label, value) in InfoRun.Machine()) Console.WriteLine($"{label,-14} {value}");
            var (line, exitCode) = InfoRun.Convolutions(config.Load(r), r.GetValue(check));
            Console.WriteLine($"convolutions   {line}");
            return exitCode;
        });
        return c;
    }
}
