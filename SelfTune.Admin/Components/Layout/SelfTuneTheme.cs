using MudBlazor;

namespace SelfTune.Admin.Components.Layout;

/// <summary>The brand palette (same colours as wwwroot-assets/theme.css); system fonts only, the app ships no web fonts.</summary>
public static class SelfTuneTheme
{
    static readonly string[] Fonts = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"];

    public static MudTheme Theme { get; } = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#4f46e5", Secondary = "#06b6d4", AppbarBackground = "#ffffff", AppbarText = "#1f2937",
            Background = "#f8fafc", DrawerBackground = "#ffffff", TextPrimary = "#111827",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#818cf8", Secondary = "#22d3ee", AppbarBackground = "#111827", Background = "#0b1120",
            Surface = "#111827", DrawerBackground = "#0f172a",
        },
        Typography = new Typography { Default = new DefaultTypography { FontFamily = Fonts } },
        LayoutProperties = new LayoutProperties { DefaultBorderRadius = "8px" },
    };
}
