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
            Primary = "#4f46e5", Secondary = "#0891b2", Tertiary = "#7c3aed",
            AppbarBackground = "#ffffff", AppbarText = "#1f2937",
            Background = "#f8fafc", Surface = "#ffffff", DrawerBackground = "#ffffff", DrawerText = "#374151", DrawerIcon = "#6b7280",
            TextPrimary = "#111827", TextSecondary = "#4b5563", LinesDefault = "#e5e7eb", TableLines = "#e5e7eb", Divider = "#e5e7eb",
            ActionDefault = "#4b5563",
            // Status colours dark enough for text and outlined chips on white (WCAG AA), and for white text on them.
            Success = "#15803d", Warning = "#b45309", Error = "#dc2626", Info = "#0369a1",
        },
        PaletteDark = new PaletteDark
        {
            Primary = "#818cf8", Secondary = "#22d3ee", Tertiary = "#a78bfa",
            AppbarBackground = "#111827", AppbarText = "#e5e7eb",
            Background = "#0b1120", Surface = "#111827", DrawerBackground = "#0f172a", DrawerText = "#d1d5db", DrawerIcon = "#9ca3af",
            TextPrimary = "#f3f4f6", TextSecondary = "#9ca3af", LinesDefault = "#1f2937", TableLines = "#1f2937", Divider = "#1f2937",
        },
        Typography = new Typography
        {
            Default = new DefaultTypography { FontFamily = Fonts },
            H4 = new H4Typography { FontSize = "1.75rem", FontWeight = "600", LineHeight = "1.3" },
            H6 = new H6Typography { FontSize = "1.05rem", FontWeight = "600" },
            Button = new ButtonTypography { TextTransform = "none", FontWeight = "500" },
        },
        LayoutProperties = new LayoutProperties { DefaultBorderRadius = "8px", DrawerWidthLeft = "232px" },
    };
}
