#version 330 core
// A picture drawn offscreen at a video output's size, shown in the window: one texture fetch a pixel.
in vec2 v_ndc;
out vec4 f_color;
uniform sampler2D u_image;
uniform mat3 u_uv;  // NDC -> uv, cropping where the aspects differ (built on the CPU)
void main() {
    f_color = vec4(texture(u_image, (u_uv * vec3(v_ndc, 1.0)).xy).rgb, 1.0);
}
