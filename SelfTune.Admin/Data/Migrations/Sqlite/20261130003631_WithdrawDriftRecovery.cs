using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class WithdrawDriftRecovery : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Warnings",
                table: "Versions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "YankedAt",
                table: "Versions",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "YankedBy",
                table: "Versions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "YankedReason",
                table: "Versions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "DeprecatedAt",
                table: "Entries",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "DeprecationMessage",
                table: "Entries",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Drift",
                table: "Connections",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "DriftDetectedAt",
                table: "Connections",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "DeliveryRecoveries",
                columns: table => new
                {
                    DeliveryId = table.Column<string>(type: "TEXT", nullable: false),
                    HookDeliveryId = table.Column<long>(type: "INTEGER", nullable: false),
                    Event = table.Column<string>(type: "TEXT", nullable: false),
                    Action = table.Column<string>(type: "TEXT", nullable: true),
                    DeliveredAt = table.Column<long>(type: "INTEGER", nullable: false),
                    RequestedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    Error = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_DeliveryRecoveries", x => x.DeliveryId);
                });

            migrationBuilder.CreateIndex(
                name: "IX_DeliveryRecoveries_RequestedAt",
                table: "DeliveryRecoveries",
                column: "RequestedAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "DeliveryRecoveries");

            migrationBuilder.DropColumn(
                name: "Warnings",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "YankedAt",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "YankedBy",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "YankedReason",
                table: "Versions");

            migrationBuilder.DropColumn(
                name: "DeprecatedAt",
                table: "Entries");

            migrationBuilder.DropColumn(
                name: "DeprecationMessage",
                table: "Entries");

            migrationBuilder.DropColumn(
                name: "Drift",
                table: "Connections");

            migrationBuilder.DropColumn(
                name: "DriftDetectedAt",
                table: "Connections");
        }
    }
}
